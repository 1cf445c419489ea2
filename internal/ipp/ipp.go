// Package ipp is a pure codec for the Internet Printing Protocol's binary
// encoding (RFC 8010 §3): requests and responses as values, no sockets.
//
// A message is
//
//	version-number   2 bytes  major, minor (2.0)
//	operation-id     2 bytes  in a request; status-code in a response
//	request-id       4 bytes
//	attribute groups          begin-attribute-group-tag (1 byte), then attributes
//	end-of-attributes-tag     1 byte (0x03)
//	data                      the document, to the end of the message
//
// and an attribute is
//
//	value-tag        1 byte
//	name-length      2 bytes, name
//	value-length     2 bytes, value
//
// followed by its additional values, each with a name-length of 0.
// Collections (RFC 8010 §3.1.6) are kept as the flat sequence of values
// they are encoded as (begCollection, memberAttrName, member values,
// endCollection), which re-encodes to the same bytes.
package ipp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Delimiter (group) tags.
const (
	TagOperation   byte = 0x01
	TagJob         byte = 0x02
	TagEnd         byte = 0x03
	TagPrinter     byte = 0x04
	TagUnsupported byte = 0x05
)

// Value tags used by amigo.
const (
	TagUnsupportedValue byte = 0x10
	TagUnknown          byte = 0x12
	TagNoValue          byte = 0x13
	TagInteger          byte = 0x21
	TagBoolean          byte = 0x22
	TagEnum             byte = 0x23
	TagOctetString      byte = 0x30
	TagDateTime         byte = 0x31
	TagBegCollection    byte = 0x34
	TagEndCollection    byte = 0x37
	TagText             byte = 0x41
	TagName             byte = 0x42
	TagKeyword          byte = 0x44
	TagURI              byte = 0x45
	TagCharset          byte = 0x47
	TagLanguage         byte = 0x48
	TagMimeType         byte = 0x49
	TagMemberName       byte = 0x4a
)

// Operations (RFC 8011 §5.4.15) amigo sends.
const (
	OpPrintJob             uint16 = 0x0002
	OpGetJobAttributes     uint16 = 0x0009
	OpGetJobs              uint16 = 0x000a
	OpGetPrinterAttributes uint16 = 0x000b
	OpPausePrinter         uint16 = 0x0010
	OpResumePrinter        uint16 = 0x0011
)

// Status codes (RFC 8011 §B): below 0x0100 is success.
const (
	StatusOK                     uint16 = 0x0000
	StatusNotFound               uint16 = 0x0406
	StatusNotAcceptingJobs       uint16 = 0x0506
	StatusServiceUnavailable     uint16 = 0x0502
	StatusServerErrorBusy        uint16 = 0x0507
	StatusServerErrorTemporary   uint16 = 0x0505
	StatusClientErrorNotPossible uint16 = 0x0404
)

// Job states (RFC 8011 §5.3.7).
const (
	JobPending    = 3
	JobHeld       = 4
	JobProcessing = 5
	JobStopped    = 6
	JobCanceled   = 7
	JobAborted    = 8
	JobCompleted  = 9
)

// Bounds on what Decode accepts: a larger message is refused before
// anything is allocated for it.
const (
	MaxAttributes = 4096 // values (an attribute and its additional values) in a message
	MaxGroups     = 1024
)

// Value is one attribute value: its tag and its encoded bytes.
type Value struct {
	Tag   byte
	Bytes []byte
}

// Attribute is a name and its values (at least one).
type Attribute struct {
	Name   string
	Values []Value
}

// Group is an attribute group (operation, job, printer, unsupported).
type Group struct {
	Tag   byte
	Attrs []Attribute
}

// Message is a request or a response.
type Message struct {
	Major, Minor byte
	Code         uint16 // operation-id in a request, status-code in a response
	RequestID    uint32
	Groups       []Group
	Data         []byte // the document (Print-Job); nil when none
}

// Error is a decoding error: what was wrong and at which byte. Err is
// ErrShort for a message that ends too soon.
type Error struct {
	Offset int
	Msg    string
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("ipp: %s at byte %d", e.Msg, e.Offset) }

func (e *Error) Unwrap() error { return e.Err }

// ErrShort is wrapped by errors for a message that ends too soon.
var ErrShort = errors.New("message too short")

func short(off int, what string) error {
	return &Error{Offset: off, Msg: what + ": message ends too soon", Err: ErrShort}
}

// Decode parses one message; Data is the bytes after end-of-attributes
// (a slice of b).
func Decode(b []byte) (Message, error) {
	var m Message
	if len(b) < 9 {
		return m, short(len(b), "header")
	}
	m.Major, m.Minor = b[0], b[1]
	m.Code = binary.BigEndian.Uint16(b[2:])
	m.RequestID = binary.BigEndian.Uint32(b[4:])
	off := 8
	values := 0
	var cur *Group
	for {
		if off >= len(b) {
			return m, short(off, "end-of-attributes tag")
		}
		tag := b[off]
		if tag == TagEnd {
			off++
			break
		}
		if tag < 0x10 { // a delimiter: a new group
			if tag == 0x00 || tag > 0x0f {
				return m, &Error{Offset: off, Msg: fmt.Sprintf("reserved delimiter tag 0x%02x", tag)}
			}
			if len(m.Groups) == MaxGroups {
				return m, &Error{Offset: off, Msg: fmt.Sprintf("more than %d attribute groups", MaxGroups)}
			}
			m.Groups = append(m.Groups, Group{Tag: tag})
			cur = &m.Groups[len(m.Groups)-1]
			off++
			continue
		}
		if cur == nil {
			return m, &Error{Offset: off, Msg: fmt.Sprintf("value tag 0x%02x before any attribute group", tag)}
		}
		start := off
		off++
		if tag == 0x7f { // extension: the real tag is the next 4 bytes, kept in the value
			return m, &Error{Offset: start, Msg: "extension value tag 0x7f is not supported"}
		}
		if len(b)-off < 2 {
			return m, short(off, "name-length")
		}
		nl := int(binary.BigEndian.Uint16(b[off:]))
		if nl > 0x7fff {
			return m, &Error{Offset: off, Msg: fmt.Sprintf("name-length %d is more than 32767", nl)}
		}
		off += 2
		if len(b)-off < nl {
			return m, short(off, "name")
		}
		name := string(b[off : off+nl])
		off += nl
		if len(b)-off < 2 {
			return m, short(off, "value-length")
		}
		vl := int(binary.BigEndian.Uint16(b[off:]))
		if vl > 0x7fff {
			return m, &Error{Offset: off, Msg: fmt.Sprintf("value-length %d is more than 32767", vl)}
		}
		off += 2
		if len(b)-off < vl {
			return m, short(off, "value")
		}
		v := Value{Tag: tag, Bytes: b[off : off+vl : off+vl]}
		if err := checkValue(start, v); err != nil {
			return m, err
		}
		off += vl
		values++
		if values > MaxAttributes {
			return m, &Error{Offset: start, Msg: fmt.Sprintf("more than %d attribute values", MaxAttributes)}
		}
		if nl == 0 {
			if len(cur.Attrs) == 0 {
				return m, &Error{Offset: start, Msg: "additional value without an attribute"}
			}
			a := &cur.Attrs[len(cur.Attrs)-1]
			a.Values = append(a.Values, v)
			continue
		}
		cur.Attrs = append(cur.Attrs, Attribute{Name: name, Values: []Value{v}})
	}
	if off < len(b) {
		m.Data = b[off:]
	}
	return m, nil
}

// checkValue checks the lengths the RFC fixes.
func checkValue(off int, v Value) error {
	want := -1
	switch v.Tag {
	case TagInteger, TagEnum:
		want = 4
	case TagBoolean:
		want = 1
	case TagDateTime:
		want = 11
	}
	if want >= 0 && len(v.Bytes) != want {
		return &Error{Offset: off, Msg: fmt.Sprintf("value tag 0x%02x needs %d bytes, has %d", v.Tag, want, len(v.Bytes))}
	}
	return nil
}

// Append appends m's encoding to buf. It fails on a name or value longer
// than 32767 bytes, an attribute without values, or a group tag that is
// not a delimiter.
func Append(buf []byte, m Message) ([]byte, error) {
	buf = append(buf, m.Major, m.Minor)
	buf = binary.BigEndian.AppendUint16(buf, m.Code)
	buf = binary.BigEndian.AppendUint32(buf, m.RequestID)
	for _, g := range m.Groups {
		if g.Tag == 0 || g.Tag >= 0x10 || g.Tag == TagEnd {
			return nil, fmt.Errorf("ipp: group tag 0x%02x is not a group delimiter", g.Tag)
		}
		buf = append(buf, g.Tag)
		for _, a := range g.Attrs {
			if len(a.Values) == 0 {
				return nil, fmt.Errorf("ipp: attribute %q has no value", a.Name)
			}
			if a.Name == "" || len(a.Name) > 0x7fff {
				return nil, fmt.Errorf("ipp: attribute name of %d bytes", len(a.Name))
			}
			for i, v := range a.Values {
				if v.Tag < 0x10 || v.Tag == 0x7f {
					return nil, fmt.Errorf("ipp: attribute %q: 0x%02x is not a value tag", a.Name, v.Tag)
				}
				if len(v.Bytes) > 0x7fff {
					return nil, fmt.Errorf("ipp: attribute %q: value of %d bytes", a.Name, len(v.Bytes))
				}
				name := a.Name
				if i > 0 {
					name = ""
				}
				buf = append(buf, v.Tag)
				buf = binary.BigEndian.AppendUint16(buf, uint16(len(name)))
				buf = append(buf, name...)
				buf = binary.BigEndian.AppendUint16(buf, uint16(len(v.Bytes)))
				buf = append(buf, v.Bytes...)
			}
		}
	}
	buf = append(buf, TagEnd)
	return append(buf, m.Data...), nil
}

// Constructors for the values amigo sends.

// String is a value of a string type (text, name, keyword, uri, charset,
// naturalLanguage, mimeMediaType).
func String(tag byte, s string) Value { return Value{Tag: tag, Bytes: []byte(s)} }

// Integer is an integer (or, with TagEnum, an enum) value.
func Integer(tag byte, n int32) Value {
	return Value{Tag: tag, Bytes: binary.BigEndian.AppendUint32(nil, uint32(n))}
}

// Boolean is a boolean value.
func Boolean(b bool) Value {
	if b {
		return Value{Tag: TagBoolean, Bytes: []byte{1}}
	}
	return Value{Tag: TagBoolean, Bytes: []byte{0}}
}

// Attr is an attribute with its values.
func Attr(name string, vs ...Value) Attribute { return Attribute{Name: name, Values: vs} }

// Int returns an integer or enum value, and whether v is one.
func (v Value) Int() (int32, bool) {
	if (v.Tag != TagInteger && v.Tag != TagEnum) || len(v.Bytes) != 4 {
		return 0, false
	}
	return int32(binary.BigEndian.Uint32(v.Bytes)), true
}

// Find returns the first attribute named name in a group with tag group
// (0: any group).
func (m Message) Find(group byte, name string) (Attribute, bool) {
	for _, g := range m.Groups {
		if group != 0 && g.Tag != group {
			continue
		}
		for _, a := range g.Attrs {
			if a.Name == name {
				return a, true
			}
		}
	}
	return Attribute{}, false
}

// Int returns the first value of a as an integer.
func (a Attribute) Int() (int32, bool) {
	if len(a.Values) == 0 {
		return 0, false
	}
	return a.Values[0].Int()
}

// String returns the first value of a as text.
func (a Attribute) String() string {
	if len(a.Values) == 0 {
		return ""
	}
	return string(a.Values[0].Bytes)
}

// Strings returns every value of a as text.
func (a Attribute) Strings() []string {
	out := make([]string, len(a.Values))
	for i, v := range a.Values {
		out[i] = string(v.Bytes)
	}
	return out
}

// StatusOK reports whether a response's status code is a success
// (successful-ok and its variants, 0x0000–0x00ff).
func (m Message) StatusOK() bool { return m.Code < 0x0100 }

// StatusMessage is the response's status-message, if any.
func (m Message) StatusMessage() string {
	a, _ := m.Find(TagOperation, "status-message")
	return a.String()
}
