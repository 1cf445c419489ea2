package q1376

// Link frames a terminal sends: login (F1), logout (F2) and heartbeat (F3).
func linkFrame(a Address, fn uint16, seq uint8, data []byte) *Frame {
	a.MSA, a.Group = 0, false
	return &Frame{Control: CtlTerminalLink, Address: a, AFN: AFNLink, Seq: Single(seq, true), Units: []Unit{NewUnit(0, fn, data)}}
}

// Login returns a terminal's login frame.
func Login(a Address, seq uint8) *Frame { return linkFrame(a, 1, seq, nil) }

// Logout returns a terminal's logout frame.
func Logout(a Address, seq uint8) *Frame { return linkFrame(a, 2, seq, nil) }

// Heartbeat returns a terminal's heartbeat frame.
func Heartbeat(a Address, seq uint8) *Frame { return linkFrame(a, 3, seq, nil) }

// IsLink reports whether f is a terminal's link frame and which (1 login, 2
// logout, 3 heartbeat).
func (f *Frame) IsLink() (uint16, bool) {
	if f.AFN != AFNLink || !f.Control.Dir() || len(f.Units) == 0 || len(f.Units[0].Fn) != 1 {
		return 0, false
	}
	return f.Units[0].Fn[0], true
}

// Confirm returns the answer confirming all of req (AFN 00 F1), as the
// master answers a link frame (C=0B) or data (C=00), or as a terminal
// answers a command (C=80).
func Confirm(req *Frame) *Frame { return answer(req, 1, nil) }

// Deny returns the answer denying all of req (AFN 00 F2).
func Deny(req *Frame) *Frame { return answer(req, 2, nil) }

// ConfirmItems returns a per-item confirm (AFN 00 F3) of req.
func ConfirmItems(req *Frame, items []ItemResult) (*Frame, error) {
	data, err := AppendItemResults(nil, req.AFN, items)
	if err != nil {
		return nil, err
	}
	return answer(req, 3, data), nil
}

func answer(req *Frame, fn uint16, data []byte) *Frame {
	var c Control
	switch {
	case req.Control.Dir() && req.AFN == AFNLink:
		c = CtlMasterConfirm
	case req.Control.Dir():
		c = CtlMasterAck
	default:
		c = CtlTerminalAck
	}
	f := &Frame{Control: c, Address: req.Address, AFN: AFNConfirm, Seq: Single(req.Seq.Num, false), Units: []Unit{NewUnit(0, fn, data)}}
	if req.Tp != nil && !req.Control.Dir() {
		tp := *req.Tp
		f.Tp = &tp
	}
	return f
}

// IsConfirm reports whether f is AFN 00 F1 (true) or F2/F3-with-errors
// (false), and whether it is an AFN 00 frame at all.
func (f *Frame) IsConfirm() (confirmed, ok bool) {
	if f.AFN != AFNConfirm || len(f.Units) == 0 || len(f.Units[0].Fn) != 1 {
		return false, false
	}
	switch f.Units[0].Fn[0] {
	case 1:
		return true, true
	case 2:
		return false, true
	case 3:
		_, items, err := ParseItemResults(f.Units[0].Data)
		if err != nil {
			return false, true
		}
		for _, it := range items {
			if it.Err != 0 {
				return false, true
			}
		}
		return true, true
	}
	return false, false
}

// Request returns a master's request to terminal a (C=4B for data, 4A for
// AFN 04/05, 41 for 01). AFNs that carry PW get pw (16 zero bytes when nil).
func Request(a Address, afn AFN, seq uint8, pw []byte, units ...Unit) *Frame {
	c := CtlMasterRequest
	switch afn {
	case AFNSet, AFNControl:
		c = CtlMasterSet
	case AFNReset:
		c = CtlMasterReset
	}
	f := &Frame{Control: c, Address: a, AFN: afn, Seq: Single(seq, false), Units: units}
	if afn.HasPW() {
		if pw == nil {
			pw = make([]byte, pwLen)
		}
		f.PW = pw
	}
	return f
}

// Response returns a terminal's data response to req carrying units; con
// asks the master to confirm it (set on data the terminal marks delivered
// only when confirmed). fir/fin mark the frames of a multi-frame answer.
func Response(req *Frame, fir, fin, con bool, units ...Unit) *Frame {
	f := &Frame{Control: CtlTerminalData, Address: req.Address, AFN: req.AFN,
		Seq: Seq{FIR: fir, FIN: fin, CON: con, Num: req.Seq.Num}, Units: units}
	if req.Tp != nil {
		tp := *req.Tp
		f.Tp = &tp
	}
	return f
}
