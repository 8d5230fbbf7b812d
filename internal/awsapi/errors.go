package awsapi

import (
	"fmt"
	"net/http"
)

// Error is an error the client sees in AWS's shape: HTTP status and a body
// {"__type": Code, "Message": Message}.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an Error with HTTP status 400, as CloudTrail answers every
// client error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// Internal is the error shown for a failure that is cairn's, not the caller's.
func Internal() *Error {
	return &Error{Code: CodeInternalFailure, Message: "The request processing has failed because of an unknown error, exception or failure.", Status: http.StatusInternalServerError}
}
