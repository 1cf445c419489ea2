package tariff

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// The tariff document is read in two steps: the JSON text becomes a tree
// (objects keep their keys in order; a key given twice is refused), then
// the tree is checked field by field, so that every problem names its
// field the way the document spells it: periods[1].from.

// MaxDocument is the largest tariff document accepted, in bytes.
const MaxDocument = 1 << 20

const maxDepth = 16

type object struct {
	keys []string
	vals map[string]any
}

// decodeTree parses one JSON value into *object, []any, string,
// json.Number, bool or nil.
func decodeTree(b []byte) (any, error) {
	if len(b) > MaxDocument {
		return nil, pathErrf("", "the document is larger than %d bytes / 文档超过 %d 字节", MaxDocument, MaxDocument)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := readValue(dec, "", 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, pathErrf("", "text after the JSON value / JSON 之后还有多余内容")
	}
	return v, nil
}

func readValue(dec *json.Decoder, path string, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonErr(path, err)
	}
	switch tok := tok.(type) {
	case json.Delim:
		if depth >= maxDepth {
			return nil, pathErrf(path, "nested deeper than %d / 嵌套超过 %d 层", maxDepth, maxDepth)
		}
		switch tok {
		case '{':
			o := &object{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, jsonErr(path, err)
				}
				k, _ := kt.(string)
				kp := join(path, k)
				if _, dup := o.vals[k]; dup {
					return nil, pathErrf(kp, "key given twice / 键重复")
				}
				v, err := readValue(dec, kp, depth+1)
				if err != nil {
					return nil, err
				}
				o.keys = append(o.keys, k)
				o.vals[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, jsonErr(path, err)
			}
			return o, nil
		case '[':
			var a []any
			for i := 0; dec.More(); i++ {
				v, err := readValue(dec, fmt.Sprintf("%s[%d]", path, i), depth+1)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, jsonErr(path, err)
			}
			if a == nil {
				a = []any{}
			}
			return a, nil
		}
		return nil, pathErrf(path, "unexpected %v / JSON 格式错误", tok)
	default:
		return tok, nil // string, json.Number, bool, nil
	}
}

func jsonErr(path string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return pathErrf(path, "the JSON text ends early / JSON 不完整")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return pathErrf(path, "JSON syntax error at byte %d: %v / JSON 语法错误", se.Offset, se)
	}
	return pathErrf(path, "%v / JSON 格式错误", err)
}

// pathErr is a problem found while reading the JSON text.
type pathErr struct{ Problem }

func (e *pathErr) Error() string { return e.Problem.String() }

func pathErrf(path, format string, args ...any) error {
	return &pathErr{Problem{Field: at(path), Message: fmt.Sprintf(format, args...)}}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func at(path string) string {
	if path == "" {
		return "(document)"
	}
	return path
}

// Problem is one thing wrong with a tariff document: the field, as the
// document spells its path (periods[1].from), and what is wrong, in
// English and Chinese.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (p Problem) String() string { return p.Field + ": " + p.Message }

// maxProblems bounds the problems reported for one document.
const maxProblems = 20

// checker collects the problems of one document.
type checker struct {
	problems []Problem
}

func (c *checker) errf(path, format string, args ...any) {
	if len(c.problems) < maxProblems {
		c.problems = append(c.problems, Problem{Field: at(path), Message: fmt.Sprintf(format, args...)})
	}
}

func kindOf(v any) string {
	switch v.(type) {
	case *object:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "true/false"
	}
	return "null"
}

// object checks that v is an object with only the allowed keys.
func (c *checker) object(path string, v any, allowed ...string) *object {
	o, ok := v.(*object)
	if !ok {
		c.errf(path, "want an object, got %s / 应为对象", kindOf(v))
		return nil
	}
	for _, k := range o.keys {
		if !contains(allowed, k) {
			known := append([]string(nil), allowed...) // allowed may be a shared list: never sort it in place
			sort.Strings(known)
			c.errf(join(path, k), "unknown key (known: %s) / 未知的键", strings.Join(known, ", "))
		}
	}
	return o
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (o *object) has(k string) bool {
	if o == nil {
		return false
	}
	_, ok := o.vals[k]
	return ok
}

func (o *object) get(k string) any {
	if o == nil {
		return nil
	}
	return o.vals[k]
}

// str checks that v is a string.
func (c *checker) str(path string, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		c.errf(path, "want a string, got %s / 应为字符串", kindOf(v))
	}
	return s, ok
}

// list checks that v is a list of at most max elements.
func (c *checker) list(path string, v any, max int) ([]any, bool) {
	a, ok := v.([]any)
	if !ok {
		c.errf(path, "want a list, got %s / 应为列表", kindOf(v))
		return nil, false
	}
	if len(a) > max {
		c.errf(path, "more than %d entries / 超过 %d 项", max, max)
		return nil, false
	}
	return a, true
}

// decimalText accepts a decimal as a JSON string ("0.5680", the documented
// form, exact) or a bare JSON number (read from its text, also exact).
func (c *checker) decimalText(path string, v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return string(v), true
	}
	c.errf(path, "want a decimal string such as \"0.5680\", got %s / 应为十进制字符串", kindOf(v))
	return "", false
}

// integer checks that v is a whole JSON number in [lo, hi].
func (c *checker) integer(path string, v any, lo, hi int) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		c.errf(path, "want a whole number, got %s / 应为整数", kindOf(v))
		return 0, false
	}
	i, err := strconv.Atoi(string(n))
	if err != nil || i < lo || i > hi {
		c.errf(path, "%s is not a whole number from %d to %d / 应为 %d 到 %d 的整数", n, lo, hi, lo, hi)
		return 0, false
	}
	return i, true
}
