package sqlstore

import (
	"encoding/json"
	"strconv"

	"github.com/amigo-metering/amigo"
)

// appendBillBody appends the JSON of a bill's body, byte for byte as
// json.Marshal(billBody{…}) writes it (TestAppendBillBody), without
// reflection: a billing run encodes a million bodies in its write
// transaction. Flags (held bills, a few) go through json.Marshal.
func appendBillBody(dst []byte, b *amigo.Bill) ([]byte, error) {
	dst = append(dst, `{"lines":`...)
	if b.Lines == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range b.Lines {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendBillLine(dst, &b.Lines[i])
		}
		dst = append(dst, ']')
	}
	if len(b.Flags) > 0 {
		fs, err := json.Marshal(b.Flags)
		if err != nil {
			return nil, err
		}
		dst = append(dst, `,"flags":`...)
		dst = append(dst, fs...)
	}
	dst = append(dst, `,"tariffs":`...)
	if b.Tariffs == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, t := range b.Tariffs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, t)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}'), nil
}

// appendBillLine appends a line as json.Marshal writes amigo.BillLine:
// its fields in order, the omitempty ones left out when empty.
func appendBillLine(dst []byte, l *amigo.BillLine) []byte {
	dst = append(dst, `{"kind":`...)
	dst = appendJSONString(dst, l.Kind)
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, l.Name)
	dst = appendOmitString(dst, `,"season":`, l.Season)
	if l.KWh != nil {
		dst = append(dst, `,"kwh":`...)
		dst = appendJSONString(dst, l.KWh.String())
	}
	dst = appendOmitString(dst, `,"price":`, l.Price)
	dst = appendOmitString(dst, `,"per_month":`, l.PerMonth)
	if l.ShareDays != 0 {
		dst = strconv.AppendInt(append(dst, `,"share_days":`...), int64(l.ShareDays), 10)
	}
	if l.ShareOf != 0 {
		dst = strconv.AppendInt(append(dst, `,"share_of":`...), int64(l.ShareOf), 10)
	}
	dst = strconv.AppendInt(append(dst, `,"amount_fen":`...), int64(l.AmountFen), 10)
	if l.FromTotals {
		dst = append(dst, `,"from_totals":true`...)
	}
	dst = appendOmitString(dst, `,"note":`, l.Note)
	dst = appendOmitString(dst, `,"tariff":`, l.Tariff)
	dst = appendOmitString(dst, `,"from":`, l.From)
	dst = appendOmitString(dst, `,"to":`, l.To)
	return append(dst, '}')
}

func appendOmitString(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	return appendJSONString(append(dst, key...), s)
}

// appendJSONString appends s quoted: printable ASCII that json.Marshal
// leaves as it is directly, anything else (escapes, HTML characters,
// non-ASCII) as json.Marshal writes it.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
