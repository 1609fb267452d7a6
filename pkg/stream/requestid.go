package stream

// MaxRequestIDBytes caps a request id. A longer one, an empty one, one
// with a byte outside printable ASCII (0x21 to 0x7e), or one that is not
// a JSON string is not used: the event is read as one without a request
// id, and RequestIDInvalid is set for the engine to count.
const MaxRequestIDBytes = 128

// setRequestID sets ev's request id from b, the unescaped string, or
// marks it invalid. Both decoders call it, so they agree.
func setRequestID(b []byte, ev *Event) {
	ev.RequestID, ev.RequestIDInvalid = "", true
	if len(b) == 0 || len(b) > MaxRequestIDBytes {
		return
	}
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return
		}
	}
	ev.RequestID, ev.RequestIDInvalid = string(b), false
}
