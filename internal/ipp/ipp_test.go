package ipp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// getJobAttrsResponse is a Get-Job-Attributes response as CUPS 2.4 sends
// it, trimmed to three attributes:
//
//	02 00            version 2.0
//	00 00            successful-ok
//	00 00 00 07      request-id 7
//	01               operation-attributes-tag
//	47 0012 attributes-charset 0005 utf-8
//	48 001b attributes-natural-language 0005 en-us
//	02               job-attributes-tag
//	21 0006 job-id 0004 0000002a                 (42)
//	23 0009 job-state 0004 00000009              (completed)
//	44 0011 job-state-reasons 000d job-completed-successfully ... plus an additional value
//	03               end-of-attributes-tag
const getJobAttrsResponse = "0200" + "0000" + "00000007" +
	"01" +
	"47" + "0012" + "617474726962757465732d63686172736574" + "0005" + "7574662d38" +
	"48" + "001b" + "617474726962757465732d6e61747572616c2d6c616e6775616765" + "0005" + "656e2d7573" +
	"02" +
	"21" + "0006" + "6a6f622d6964" + "0004" + "0000002a" +
	"23" + "0009" + "6a6f622d7374617465" + "0004" + "00000009" +
	"44" + "0011" + "6a6f622d73746174652d726561736f6e73" + "0004" + "6e6f6e65" +
	"44" + "0000" + "0003" + "616263" +
	"03"

func TestDecodeVector(t *testing.T) {
	b, err := hex.DecodeString(getJobAttrsResponse)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Major != 2 || m.Minor != 0 || m.Code != StatusOK || m.RequestID != 7 || !m.StatusOK() {
		t.Fatalf("header: %+v", m)
	}
	if a, ok := m.Find(TagJob, "job-id"); !ok {
		t.Fatal("no job-id")
	} else if n, _ := a.Int(); n != 42 {
		t.Errorf("job-id %d, want 42", n)
	}
	if a, _ := m.Find(TagJob, "job-state"); a.Values[0].Tag != TagEnum {
		t.Errorf("job-state tag 0x%02x", a.Values[0].Tag)
	} else if n, _ := a.Int(); n != JobCompleted {
		t.Errorf("job-state %d, want 9", n)
	}
	if a, _ := m.Find(TagJob, "job-state-reasons"); !reflect.DeepEqual(a.Strings(), []string{"none", "abc"}) {
		t.Errorf("job-state-reasons %q", a.Strings())
	}
	if a, _ := m.Find(TagOperation, "attributes-charset"); a.String() != "utf-8" {
		t.Errorf("charset %q", a.String())
	}
	if _, ok := m.Find(TagPrinter, "job-id"); ok {
		t.Error("job-id found in the printer group")
	}
	again, err := Append(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, b) {
		t.Errorf("re-encoded\n%x\nwant\n%x", again, b)
	}
}

func TestRequestRoundTrip(t *testing.T) {
	req := Message{Major: 2, Code: OpPrintJob, RequestID: 1, Groups: []Group{{Tag: TagOperation, Attrs: []Attribute{
		Attr("attributes-charset", String(TagCharset, "utf-8")),
		Attr("attributes-natural-language", String(TagLanguage, "zh-cn")),
		Attr("printer-uri", String(TagURI, "ipp://127.0.0.1:631/printers/amigo-pdf")),
		Attr("job-name", String(TagName, "amigo-17")),
		Attr("document-format", String(TagMimeType, "application/pdf")),
		Attr("copies", Integer(TagInteger, 1)),
		Attr("ipp-attribute-fidelity", Boolean(false)),
	}}}, Data: []byte("%PDF-1.7 ...")}
	b, err := Append(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, req) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", got, req)
	}
}

func TestDecodeErrors(t *testing.T) {
	full, _ := hex.DecodeString(getJobAttrsResponse)
	for name, tc := range map[string]struct {
		b    []byte
		want string
	}{
		"empty":           {nil, "header"},
		"no end tag":      {full[:len(full)-1], "end-of-attributes"},
		"cut in a value":  {full[:40], "too soon"},
		"value first":     {append([]byte{2, 0, 0, 0, 0, 0, 0, 1}, 0x21, 0, 1, 'a', 0, 4, 0, 0, 0, 1, 3), "before any attribute group"},
		"bad integer":     {append([]byte{2, 0, 0, 0, 0, 0, 0, 1, 1}, 0x21, 0, 1, 'a', 0, 3, 0, 0, 1, 3), "needs 4 bytes"},
		"orphan value":    {append([]byte{2, 0, 0, 0, 0, 0, 0, 1, 1}, 0x21, 0, 0, 0, 4, 0, 0, 0, 1, 3), "additional value without"},
		"reserved delim":  {append([]byte{2, 0, 0, 0, 0, 0, 0, 1}, 0x00, 3), "reserved delimiter"},
		"extension value": {append([]byte{2, 0, 0, 0, 0, 0, 0, 1, 1}, 0x7f, 0, 1, 'a', 0, 4, 0, 0, 0, 1, 3), "extension"},
	} {
		_, err := Decode(tc.b)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "ipp: ") {
			t.Errorf("%s: got %v, want %q", name, err, tc.want)
		}
	}
	if _, err := Decode(full[:20]); !errors.Is(err, ErrShort) {
		t.Errorf("cut message: %v is not ErrShort", err)
	}
}

func TestDecodeBoundsValues(t *testing.T) {
	b := []byte{2, 0, 0, 0, 0, 0, 0, 1, 1, 0x44, 0, 1, 'a', 0, 0}
	for i := 0; i < MaxAttributes; i++ {
		b = append(b, 0x44, 0, 0, 0, 0)
	}
	b = append(b, 3)
	if _, err := Decode(b); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("got %v, want the value bound", err)
	}
}

func TestAppendRefuses(t *testing.T) {
	for name, m := range map[string]Message{
		"no values":  {Groups: []Group{{Tag: TagOperation, Attrs: []Attribute{{Name: "x"}}}}},
		"bad group":  {Groups: []Group{{Tag: 0x21}}},
		"end group":  {Groups: []Group{{Tag: TagEnd}}},
		"long value": {Groups: []Group{{Tag: TagOperation, Attrs: []Attribute{Attr("x", String(TagText, strings.Repeat("a", 0x8000)))}}}},
		"no name":    {Groups: []Group{{Tag: TagOperation, Attrs: []Attribute{Attr("", String(TagText, "a"))}}}},
	} {
		if _, err := Append(nil, m); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}
