package tracker

import (
	"errors"
	"fmt"
)

// Error codes. The set is closed: transports map each one to a status once,
// and callers branch on codes rather than on message text.
const (
	EINVALID     = "invalid"                // the input breaks a rule; Fields says where
	ENOTFOUND    = "not_found"              // the event, capture job or EPC is unknown
	ECONFLICT    = "conflict"               // an eventID already exists with other content
	ETOOLARGE    = "too_large"              // the request body is over the configured limit
	EUNSUPPORTED = "unsupported_media_type" // the body is not JSON / JSON-LD
	EUNAVAILABLE = "unavailable"            // a feature is switched off or the store is closing
	EINTERNAL    = "internal"               // anything else; the message is not for clients
)

// FieldError names one invalid input: where it is (a JSON pointer, RFC 6901,
// or "?name" for a query parameter), the offending value and what is wrong.
type FieldError struct {
	Pointer string `json:"pointer"`
	Value   string `json:"value,omitempty"`
	Detail  string `json:"detail"`
}

// Error is a domain error with a code from the set above.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	f := e.Fields[0]
	msg := fmt.Sprintf("%s: %s: %s", e.Message, f.Pointer, f.Detail)
	if f.Value != "" {
		msg += fmt.Sprintf(" (value %q)", f.Value)
	}
	if len(e.Fields) > 1 {
		msg += fmt.Sprintf(" and %d more", len(e.Fields)-1)
	}
	return msg
}

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorFields returns the field errors of the first *Error in err's chain.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// ErrorMessage returns the client-safe message of err: the message of a
// domain error, or a generic text for internal ones so that SQL or file paths
// never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "internal error"
}
