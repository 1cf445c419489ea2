package main

import (
	"github.com/amigo-metering/amigo/internal/frametool"
	"github.com/amigo-metering/amigo/q1376"
)

func init() {
	frameDecoders["q1376"] = frametool.DecodeQ1376
	// 68 L L 68 with equal L copies and a known protocol id is 1376.1; a
	// DL/T 645 frame has its second 68 at byte 7 instead.
	frameDetectors = append(frameDetectors, struct {
		protocol string
		match    func(b []byte) bool
	}{"q1376", func(b []byte) bool { _, err := q1376.FrameLen(b); return err == nil }})
}
