package printing

import (
	"fmt"
	"sort"
	"strings"

	"github.com/boombuler/barcode/qr"
	"github.com/signintech/gopdf"
)

// page wraps one gopdf document with the few drawing operations amigo's
// documents need, in points (1/72 inch) from the page's upper-left corner.
// The first error sticks, so that the layout code reads straight; missing
// glyphs are collected and turned into an error at the end.
type page struct {
	pdf     *gopdf.GoPdf
	err     error
	missing map[rune]bool
}

const family = "amigo"

func (r *Renderer) newPage(w, h float64, title string) *page {
	p := &page{pdf: &gopdf.GoPdf{}, missing: map[rune]bool{}}
	p.pdf.Start(gopdf.Config{PageSize: gopdf.Rect{W: w, H: h}, Unit: gopdf.UnitPT})
	p.pdf.SetInfo(gopdf.PdfInfo{Title: title, Creator: "amigo", Producer: "amigo"})
	p.pdf.AddPage()
	opt := gopdf.TtfOption{
		OnGlyphNotFound:           func(c rune) { p.missing[c] = true },
		OnGlyphNotFoundSubstitute: func(c rune) rune { return c },
	}
	if err := p.pdf.AddTTFFontDataWithOption(family, r.font, opt); err != nil {
		p.err = fmt.Errorf("字体无法嵌入 / embedding the font %s: %w", r.path, err)
	}
	return p
}

func (p *page) fail(err error) {
	if p.err == nil && err != nil {
		p.err = err
	}
}

func (p *page) size(pt float64) {
	if p.err != nil {
		return
	}
	p.fail(p.pdf.SetFont(family, "", pt))
}

// text writes s with its upper-left corner at (x, y).
func (p *page) text(x, y float64, s string) {
	if p.err != nil || s == "" {
		return
	}
	p.pdf.SetXY(x, y)
	p.fail(p.pdf.Cell(nil, s))
}

func (p *page) width(s string) float64 {
	if p.err != nil {
		return 0
	}
	w, err := p.pdf.MeasureTextWidth(s)
	p.fail(err)
	return w
}

// right writes s ending at x.
func (p *page) right(x, y float64, s string) { p.text(x-p.width(s), y, s) }

// center writes s centred on x.
func (p *page) center(x, y float64, s string) { p.text(x-p.width(s)/2, y, s) }

func (p *page) gray(level uint8) {
	p.pdf.SetFillColor(level, level, level)
	p.pdf.SetStrokeColor(level, level, level)
}

func (p *page) rect(x, y, w, h float64) {
	if p.err != nil || w <= 0 || h <= 0 {
		return
	}
	p.pdf.RectFromUpperLeftWithStyle(x, y, w, h, "F")
}

func (p *page) line(x1, y1, x2, y2 float64) {
	if p.err != nil {
		return
	}
	p.pdf.Line(x1, y1, x2, y2)
}

// qr draws payload as a QR code (error correction M) of side size at
// (x, y), each dark module a filled square: vector, sharp at any scale.
func (p *page) qr(x, y, size float64, payload string) {
	if p.err != nil {
		return
	}
	code, err := qr.Encode(payload, qr.M, qr.Auto)
	if err != nil {
		p.fail(fmt.Errorf("二维码生成失败 / QR code for the payment payload: %w", err))
		return
	}
	b := code.Bounds()
	n := b.Dx()
	const quiet = 4 // modules of white border the standard asks for
	m := size / float64(n+2*quiet)
	p.gray(0)
	for row := 0; row < n; row++ {
		for col := 0; col < n; {
			if !dark(code.At(b.Min.X+col, b.Min.Y+row)) {
				col++
				continue
			}
			start := col
			for col < n && dark(code.At(b.Min.X+col, b.Min.Y+row)) {
				col++
			}
			p.rect(x+float64(quiet+start)*m, y+float64(quiet+row)*m, float64(col-start)*m+0.01, m+0.01)
		}
	}
}

func dark(c interface{ RGBA() (r, g, b, a uint32) }) bool {
	r, _, _, _ := c.RGBA()
	return r < 0x8000
}

// bytes finishes the document: an error if any drawing failed or any
// character has no glyph in the font.
func (p *page) bytes() ([]byte, error) {
	if p.err != nil {
		return nil, p.err
	}
	if len(p.missing) > 0 {
		rs := make([]string, 0, len(p.missing))
		for c := range p.missing {
			rs = append(rs, fmt.Sprintf("%q U+%04X", c, c))
		}
		sort.Strings(rs)
		return nil, fmt.Errorf("字体缺少字形，不打印 / the font has no glyph for %s: not printing boxes instead", strings.Join(rs, ", "))
	}
	b, err := p.pdf.GetBytesPdfReturnErr()
	if err != nil {
		return nil, fmt.Errorf("生成 PDF 失败 / writing the PDF: %w", err)
	}
	return b, nil
}
