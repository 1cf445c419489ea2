package dlt645

import "errors"

// Split is a bufio.SplitFunc that finds DL/T 645 frames in a byte stream. It
// skips FE preambles and any garbage before a 68H, waits for frames split
// across reads, and resynchronises at the next 68H after a byte sequence that
// is not a valid frame, so a valid frame that follows garbage is never lost.
// Each token is one whole frame without preamble; decode it with
// (*Frame).Decode. Set a bufio.Scanner's buffer to at least 512 bytes.
func Split(data []byte, atEOF bool) (advance int, token []byte, err error) {
	for i := 0; i < len(data); i++ {
		if data[i] != Start {
			continue
		}
		rest := data[i:]
		if len(rest) < HeaderLen {
			if atEOF {
				return len(data), nil, nil
			}
			return i, nil, nil // wait for more; drop the garbage before
		}
		if rest[7] != Start {
			continue
		}
		total := HeaderLen + int(rest[9]) + 2
		if len(rest) < total {
			if atEOF {
				// A truncated frame at the end; maybe a later 68 starts a real one.
				continue
			}
			// It may be a frame still arriving, or a false start whose
			// length byte is large: a later valid frame inside the
			// window is preferred when it is complete.
			if j := nextComplete(rest[1:]); j >= 0 {
				i += j // loop's i++ lands on the start of that frame
				continue
			}
			return i, nil, nil
		}
		var sum byte
		for _, c := range rest[:total-2] {
			sum += c
		}
		if rest[total-2] != sum || rest[total-1] != End {
			continue
		}
		return i + total, rest[:total], nil
	}
	if atEOF {
		return len(data), nil, nil
	}
	// No start byte anywhere: everything is garbage, keep nothing.
	return len(data), nil, nil
}

// nextComplete returns the offset in b of the first complete, valid frame, or
// -1.
func nextComplete(b []byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] != Start || len(b)-i < HeaderLen || b[i+7] != Start {
			continue
		}
		total := HeaderLen + int(b[i+9]) + 2
		if len(b)-i < total {
			continue
		}
		var sum byte
		for _, c := range b[i : i+total-2] {
			sum += c
		}
		if b[i+total-2] == sum && b[i+total-1] == End {
			return i
		}
	}
	return -1
}

// ErrNoFrame is returned by FindFrame when b holds no complete valid frame.
var ErrNoFrame = errors.New("dlt645: no complete frame")

// FindFrame returns the first complete valid frame in b and the offset just
// past it; it is Split for callers that hold a whole buffer.
func FindFrame(b []byte) (frame []byte, next int, err error) {
	adv, tok, _ := Split(b, true)
	for tok == nil && adv < len(b) && adv > 0 {
		b2 := b[adv:]
		a2, t2, _ := Split(b2, true)
		if a2 == 0 {
			break
		}
		adv += a2
		tok = t2
	}
	if tok == nil {
		return nil, adv, ErrNoFrame
	}
	return tok, adv, nil
}
