package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/amigo-metering/amigo"
)

// maxBody bounds every JSON request body (CSV imports have their own bound,
// archive.MaxImportBytes).
const maxBody = 64 << 10

// decodeStrict is the one way a route reads a JSON body: at most maxBody
// bytes, exactly one JSON value, no field v does not have. Its errors are
// bilingual EINVALID.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeBody(http.MaxBytesReader(w, r.Body, maxBody), v)
}

// decodeBody is decodeStrict's reader half (fuzzed).
func decodeBody(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		var big *http.MaxBytesError
		if errors.As(err, &big) {
			return decodeError(err)
		}
		return amigo.Errorf(amigo.EINVALID, "decode", "request body must be one JSON value and nothing after it / 请求体只能是一个 JSON 值")
	}
	return nil
}

func decodeError(err error) error {
	var big *http.MaxBytesError
	if errors.As(err, &big) {
		return amigo.Errorf(amigo.EINVALID, "decode", "request body larger than %d bytes / 请求体超过%d字节", maxBody, maxBody)
	}
	return amigo.Errorf(amigo.EINVALID, "decode", "request body is not the expected JSON object: %v / 请求体格式错误", err)
}
