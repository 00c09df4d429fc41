package l7

import (
	"net/http"
	"strconv"
)

// serverToken is what error pages and Via name this proxy (nginx prints
// "nginx" with server_tokens off).
const serverToken = "fulcrum"

// reasons are the reason phrases nginx's error pages use where they differ
// from Go's (ngx_http_special_response.c).
var reasons = map[int]string{
	http.StatusRequestEntityTooLarge:        "Request Entity Too Large",
	http.StatusRequestURITooLong:            "Request-URI Too Large",
	http.StatusServiceUnavailable:           "Service Temporarily Unavailable",
	http.StatusGatewayTimeout:               "Gateway Time-out",
	http.StatusFound:                        "Moved Temporarily",
	http.StatusRequestedRangeNotSatisfiable: "Requested Range Not Satisfiable",
}

func reason(code int) string {
	if s, ok := reasons[code]; ok {
		return s
	}
	return http.StatusText(code)
}

// errorPage is the body nginx sends for a status it generates itself
// (ngx_http_send_special_response): a small HTML page with the status
// line as title and heading, and a server line at the bottom.
func errorPage(code int) string {
	line := strconv.Itoa(code) + " " + reason(code)
	return "<html>\r\n<head><title>" + line + "</title></head>\r\n<body>\r\n<center><h1>" + line +
		"</h1></center>\r\n<hr><center>" + serverToken + "</center>\r\n</body>\r\n</html>\r\n"
}

// hasErrorPage reports whether nginx sends a page with this status: not
// for 1xx, 2xx, 204 and 304 (ngx_http_special_response_handler).
func hasErrorPage(code int) bool {
	return code >= 300 && code != http.StatusNotModified
}

// writeStatus sends a generated response: the error page for codes that
// have one, nothing for the others.
func writeStatus(w http.ResponseWriter, code int) {
	if !hasErrorPage(code) {
		w.WriteHeader(code)
		return
	}
	body := errorPage(code)
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}
