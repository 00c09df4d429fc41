package conntab

import "time"

// Proto is an entry's protocol, numbered as the IP protocol field.
type Proto uint8

const (
	// ProtoIP marks fwmark persistence templates (IPPROTO_IP, shown as "IP").
	ProtoIP  Proto = 0
	ProtoTCP Proto = 6
	ProtoUDP Proto = 17
)

// String is ip_vs_proto_name's spelling.
func (p Proto) String() string {
	switch p {
	case ProtoTCP:
		return "TCP"
	case ProtoUDP:
		return "UDP"
	case ProtoIP:
		return "IP"
	}
	return "ERR!"
}

// State is a connection state. The TCP states use the kernel's numbering
// (IP_VS_TCP_S_*, include/uapi/linux/ip_vs.h) so the transition table below
// reads like tcp_states in ip_vs_proto_tcp.c.
type State uint8

const (
	StateNone State = iota // IP_VS_TCP_S_NONE
	StateEstablished
	StateSynSent
	StateSynRecv
	StateFinWait
	StateTimeWait
	StateClose
	StateCloseWait
	StateLastAck
	StateListen
	StateSynAck
	numTCPStates

	// StateUDP is IP_VS_UDP_S_NORMAL, the only UDP state (ip_vs_proto_udp.c).
	StateUDP State = 16
)

var stateNames = [...]string{
	StateNone:        "NONE",
	StateEstablished: "ESTABLISHED",
	StateSynSent:     "SYN_SENT",
	StateSynRecv:     "SYN_RECV",
	StateFinWait:     "FIN_WAIT",
	StateTimeWait:    "TIME_WAIT",
	StateClose:       "CLOSE",
	StateCloseWait:   "CLOSE_WAIT",
	StateLastAck:     "LAST_ACK",
	StateListen:      "LISTEN",
	StateSynAck:      "SYNACK",
}

// String returns the name ipvsadm -Lc prints (tcp_state_name_table,
// udp_state_name_table).
func (s State) String() string {
	if s == StateUDP {
		return "UDP"
	}
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "ERR!"
}

// Timeouts are the three timeouts ipvsadm --set changes: TCP is the
// ESTABLISHED timeout, TCPFin the FIN_WAIT timeout, UDP the UDP timeout.
type Timeouts struct {
	TCP, TCPFin, UDP time.Duration
}

// DefaultTimeouts are the kernel's (tcp_timeouts, udp_timeouts).
var DefaultTimeouts = Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}

// defaultStateTimeouts is tcp_timeouts in ip_vs_proto_tcp.c, indexed by State.
var defaultStateTimeouts = [numTCPStates]time.Duration{
	StateNone:        2 * time.Second,
	StateEstablished: 15 * 60 * time.Second,
	StateSynSent:     2 * 60 * time.Second,
	StateSynRecv:     1 * 60 * time.Second,
	StateFinWait:     2 * 60 * time.Second,
	StateTimeWait:    2 * 60 * time.Second,
	StateClose:       10 * time.Second,
	StateCloseWait:   60 * time.Second,
	StateLastAck:     30 * time.Second,
	StateListen:      2 * 60 * time.Second,
	StateSynAck:      120 * time.Second,
}

// Dir is the direction of a packet relative to the virtual service
// (IP_VS_DIR_INPUT: client to real server; OUTPUT: real server to client).
type Dir uint8

const (
	DirInput Dir = iota
	DirOutput
	// DirInputOnly is the table used while no output packet was seen
	// (IP_VS_CONN_F_NOOUTPUT: direct routing and tunnelling).
	DirInputOnly
)

// Flag is the TCP header flag that drives a transition, in the kernel's
// priority order (tcp_state_idx: RST, then SYN, then FIN, then ACK).
type Flag uint8

const (
	FlagSYN Flag = iota
	FlagFIN
	FlagACK
	FlagRST
)

const (
	sNO = StateNone
	sES = StateEstablished
	sSS = StateSynSent
	sSR = StateSynRecv
	sFW = StateFinWait
	sTW = StateTimeWait
	sCL = StateClose
	sCW = StateCloseWait
	sLA = StateLastAck
	sLI = StateListen
	sSA = StateSynAck
)

// tcpStates is tcp_states (the default, non-secure_tcp table) of
// ip_vs_proto_tcp.c: [direction][flag][current state] -> next state.
var tcpStates = [3][4][numTCPStates]State{
	DirInput: {
		//           sNO, sES, sSS, sSR, sFW, sTW, sCL, sCW, sLA, sLI, sSA
		FlagSYN: {sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR},
		FlagFIN: {sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW},
		FlagACK: {sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES},
		FlagRST: {sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR},
	},
	DirOutput: {
		FlagSYN: {sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR},
		FlagFIN: {sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW},
		FlagACK: {sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES},
		FlagRST: {sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL},
	},
	DirInputOnly: {
		FlagSYN: {sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR},
		FlagFIN: {sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW},
		FlagACK: {sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES},
		FlagRST: {sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL},
	},
}

// NextTCPState is one lookup in tcp_states (set_tcp_state).
func NextTCPState(cur State, d Dir, f Flag) State {
	if cur >= numTCPStates || d > DirInputOnly || f > FlagRST {
		return StateClose
	}
	return tcpStates[d][f][cur]
}
