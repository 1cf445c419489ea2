package printing

import (
	"bytes"
	"fmt"
	"os"
	"sync"
)

// DefaultFontFile is where Debian's fonts-lxgw-wenkai puts its regular
// face: a TrueType (glyf) font with both CJK and Latin glyphs, which the
// PDF library embeds as a subset. CFF-based fonts (fonts-noto-cjk's .ttc,
// any "OTTO" file) and font collections (.ttc) are refused.
const DefaultFontFile = "/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Regular.ttf"

// maxFontBytes bounds the font file read into memory (LXGW WenKai is 16 MB).
const maxFontBytes = 64 << 20

// Renderer turns bills and receipts into PDF documents with one embedded
// TrueType font. It is safe for concurrent use: the font's bytes are read
// once and only read afterwards.
type Renderer struct {
	path string
	font []byte
}

// fontCache keeps each font file's bytes once per process: a renderer per
// request would otherwise read 16 MB each time.
var fontCache sync.Map // path → []byte

// NewRenderer reads the font at path (DefaultFontFile when empty) and
// checks that it is a single TrueType font. A missing or unusable font is
// an error saying so in Chinese and English: amigo never prints a document
// whose characters would show as empty boxes.
func NewRenderer(path string) (*Renderer, error) {
	if path == "" {
		path = DefaultFontFile
	}
	if b, ok := fontCache.Load(path); ok {
		return &Renderer{path: path, font: b.([]byte)}, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("字体文件不可用（配置项 font_file，Debian 软件包 fonts-lxgw-wenkai）/ font file not usable (config key font_file; Debian package fonts-lxgw-wenkai): %w", err)
	}
	if fi.Size() > maxFontBytes {
		return nil, fmt.Errorf("字体文件过大 / font file too large: %s is %d bytes, at most %d", path, fi.Size(), maxFontBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("读取字体文件失败 / reading the font file: %w", err)
	}
	if err := checkTrueType(path, b); err != nil {
		return nil, err
	}
	fontCache.Store(path, b)
	return &Renderer{path: path, font: b}, nil
}

// FontFile is the path of the renderer's font.
func (r *Renderer) FontFile() string { return r.path }

func checkTrueType(path string, b []byte) error {
	if len(b) < 12 {
		return fmt.Errorf("字体文件无效 / not a font file: %s (%d bytes)", path, len(b))
	}
	switch {
	case bytes.Equal(b[:4], []byte{0, 1, 0, 0}), bytes.Equal(b[:4], []byte("true")):
		return nil
	case bytes.Equal(b[:4], []byte("OTTO")):
		return fmt.Errorf("字体文件是 CFF 轮廓（OpenType/CFF），不支持；请用 TrueType 字体如 %s / %s has CFF outlines, which cannot be embedded: use a TrueType font such as %s", DefaultFontFile, path, DefaultFontFile)
	case bytes.Equal(b[:4], []byte("ttcf")):
		return fmt.Errorf("字体文件是字体集（.ttc），不支持；请用单个 .ttf 如 %s / %s is a font collection (.ttc): use a single .ttf such as %s", DefaultFontFile, path, DefaultFontFile)
	}
	return fmt.Errorf("字体文件无效（不是 TrueType）/ %s is not a TrueType font (header % x)", path, b[:4])
}
