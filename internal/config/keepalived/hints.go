package keepalived

// unknownHint explains an unknown keyword where the reason is known.
func unknownHint(parents []string, name string) string {
	parent := ""
	if len(parents) > 0 {
		parent = parents[len(parents)-1]
	}
	switch {
	case name == "nb_get_retry" && parent != "HTTP_GET" && parent != "SSL_GET":
		return "only HTTP_GET and SSL_GET know nb_get_retry, as a deprecated 'retry'; " + parent + " keeps its default retry of " + defaultRetryOf(parent)
	case name == "nat_mask":
		return "keepalived removed nat_mask long ago; it does nothing"
	case name == "connect_timeout" && parent == "MISC_CHECK":
		return "MISC_CHECK has no connection; misc_timeout limits the script"
	}
	return ""
}

func defaultRetryOf(checker string) string {
	switch checker {
	case "MISC_CHECK":
		return "0"
	case "DNS_CHECK":
		return "3"
	}
	return "1"
}
