package balance

import "sort"

// ebNode is an entry of an ebTree. HAProxy keeps servers (fwrr, fwlc, fas)
// and consistent-hash points (lb_chash) in eb32 trees: ordered by a 32-bit
// key, duplicates allowed and walked in insertion order (ebtree's
// eb_insert_dup appends a duplicate after the existing ones). The walk order
// decides ties, so it is reproduced exactly: a node's position is
// (key, insertion sequence).
type ebNode struct {
	key  uint32
	seq  uint64
	srv  *hapServer
	tree *ebTree
}

// ebTree is a sorted slice of nodes; the trees hold at most a few thousand
// entries and change rarely compared to lookups.
type ebTree struct {
	nodes []*ebNode
	seq   *uint64 // shared by the trees of one backend
}

func (t *ebTree) less(i int, key uint32, seq uint64) bool {
	n := t.nodes[i]
	return n.key < key || (n.key == key && n.seq < seq)
}

// insert adds n after every node with the same key (eb32_insert).
func (t *ebTree) insert(n *ebNode) {
	*t.seq++
	n.seq = *t.seq
	i := sort.Search(len(t.nodes), func(i int) bool { return !t.less(i, n.key, n.seq) })
	t.nodes = append(t.nodes, nil)
	copy(t.nodes[i+1:], t.nodes[i:])
	t.nodes[i] = n
	n.tree = t
}

// index returns n's position; n must be in t.
func (t *ebTree) index(n *ebNode) int {
	return sort.Search(len(t.nodes), func(i int) bool { return !t.less(i, n.key, n.seq) })
}

// delete removes n from whatever tree holds it (eb32_delete; a no-op for a
// node in no tree).
func ebDelete(n *ebNode) {
	t := n.tree
	if t == nil {
		return
	}
	i := t.index(n)
	copy(t.nodes[i:], t.nodes[i+1:])
	t.nodes[len(t.nodes)-1] = nil
	t.nodes = t.nodes[:len(t.nodes)-1]
	n.tree = nil
}

func (t *ebTree) first() *ebNode {
	if len(t.nodes) == 0 {
		return nil
	}
	return t.nodes[0]
}

func (t *ebTree) last() *ebNode {
	if len(t.nodes) == 0 {
		return nil
	}
	return t.nodes[len(t.nodes)-1]
}

// next returns the node after n, or nil at the end (eb32_next).
func (t *ebTree) next(n *ebNode) *ebNode {
	i := t.index(n) + 1
	if i >= len(t.nodes) {
		return nil
	}
	return t.nodes[i]
}

// prev returns the node before n, or nil at the start (eb32_prev).
func (t *ebTree) prev(n *ebNode) *ebNode {
	i := t.index(n) - 1
	if i < 0 {
		return nil
	}
	return t.nodes[i]
}

// lookupGE returns the first node whose key is >= key (eb32_lookup_ge).
func (t *ebTree) lookupGE(key uint32) *ebNode {
	i := sort.Search(len(t.nodes), func(i int) bool { return t.nodes[i].key >= key })
	if i >= len(t.nodes) {
		return nil
	}
	return t.nodes[i]
}
