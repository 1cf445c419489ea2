package ipp

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode: it must never panic, and what
// it accepts must re-encode to the bytes it came from (the attribute part:
// Data is everything after the end tag either way).
func FuzzDecode(f *testing.F) {
	b, _ := hex.DecodeString(getJobAttrsResponse)
	f.Add(b)
	f.Add(append(b, "%PDF-1.7"...))
	req, _ := Append(nil, Message{Major: 2, Code: OpGetJobs, RequestID: 3, Groups: []Group{
		{Tag: TagOperation, Attrs: []Attribute{Attr("attributes-charset", String(TagCharset, "utf-8")), Attr("requested-attributes", String(TagKeyword, "job-id"), String(TagKeyword, "job-name"))}},
		{Tag: TagJob, Attrs: []Attribute{Attr("media-col", Value{Tag: TagBegCollection}), Attr("x", Boolean(true))}},
	}})
	f.Add(req)
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 1, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Append(nil, m)
		if err != nil {
			t.Fatalf("decoded %x but cannot encode it: %v", b, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoded\n%x\nfrom\n%x", again, b)
		}
	})
}
