package web

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/archive"
)

// The archive as Excel workbooks: the export is the API's CSV export
// written into a sheet (every cell text, so that addresses keep their
// leading zeros); an .xlsx import is turned back into the CSV the API's
// importer reads (all or nothing, the bad line named: row N of the sheet
// is line N of the CSV).

func (s *Server) xlsxRoutes() {
	s.mux.HandleFunc("GET /archive/export/{kind}/xlsx", s.authed(s.exportXLSX))
}

func (s *Server) exportXLSX(w http.ResponseWriter, r *http.Request, se session, v *view) {
	v.Nav = "archive"
	kind := r.PathValue("kind")
	if !slices.Contains(archiveKinds, kind) {
		s.fail(w, r, v, amigo.Errorf(amigo.ENOTFOUND, "export", "no such kind / 无此类别"))
		return
	}
	code, b := s.apiCall(r, se.Token, "GET", "/api/v1/export/"+kind, nil, "")
	if code != http.StatusOK {
		s.fail(w, r, v, apiError(v.L, code, b))
		return
	}
	x, err := csvToXLSX(kind, b)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	w.Header().Set("Content-Type", xlsxType)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": kind + ".xlsx"}))
	w.Write(x)
}

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// isXLSX says whether an upload is a workbook (a zip file) rather than CSV.
func isXLSX(b []byte) bool { return bytes.HasPrefix(b, []byte("PK\x03\x04")) }

// csvToXLSX writes a CSV export as a workbook of one sheet named kind.
func csvToXLSX(kind string, in []byte) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", kind); err != nil {
		return nil, fmt.Errorf("xlsx: %w", err)
	}
	sw, err := f.NewStreamWriter(kind)
	if err != nil {
		return nil, fmt.Errorf("xlsx: %w", err)
	}
	cr := csv.NewReader(bytes.NewReader(in))
	cr.FieldsPerRecord = -1
	for row := 1; ; row++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("xlsx: the export's CSV: %w", err)
		}
		cells := make([]any, len(rec))
		for i, c := range rec {
			if row == 1 && i == 0 {
				c = strings.TrimPrefix(c, "\ufeff")
			}
			cells[i] = c
		}
		cell, _ := excelize.CoordinatesToCellName(1, row)
		if err := sw.SetRow(cell, cells); err != nil {
			return nil, fmt.Errorf("xlsx: row %d: %w", row, err)
		}
	}
	if err := sw.Flush(); err != nil {
		return nil, fmt.Errorf("xlsx: %w", err)
	}
	var out bytes.Buffer
	if err := f.Write(&out); err != nil {
		return nil, fmt.Errorf("xlsx: %w", err)
	}
	return out.Bytes(), nil
}

// Bounds of an uploaded workbook, besides the request's (maxForm): its
// unzipped size, and the CSV it becomes (the importer's own bounds).
const (
	xlsxUnzipLimit = 64 << 20
	xlsxXMLLimit   = 16 << 20
)

// xlsxToCSV reads the first sheet of a workbook as the importer's CSV:
// row N of the sheet is line N, each row padded to the header's width, a
// blank row a blank line. Bad input is an EINVALID error in both
// languages; nothing in the workbook makes it panic.
func xlsxToCSV(in []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, badXLSX(fmt.Errorf("%v", p))
		}
	}()
	f, err := excelize.OpenReader(bytes.NewReader(in), excelize.Options{UnzipSizeLimit: xlsxUnzipLimit, UnzipXMLSizeLimit: xlsxXMLLimit})
	if err != nil {
		return nil, badXLSX(err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, amigo.Errorf(amigo.EINVALID, "import", "file: the workbook has no sheet / 文件：工作簿没有工作表")
	}
	rows, err := f.Rows(sheets[0])
	if err != nil {
		return nil, badXLSX(err)
	}
	defer rows.Close()
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	width := 0
	for n := 1; rows.Next(); n++ {
		if n > archive.MaxImportRows+1 {
			return nil, amigo.Errorf(amigo.EINVALID, "import", "line %d: more than %d rows; split the file / 第%d行: 超过%d行，请拆分文件", n, archive.MaxImportRows, n, archive.MaxImportRows)
		}
		cols, err := rows.Columns()
		if err != nil {
			return nil, badXLSX(err)
		}
		for len(cols) > 0 && strings.TrimSpace(cols[len(cols)-1]) == "" {
			cols = cols[:len(cols)-1]
		}
		if n == 1 {
			width = len(cols)
			if width == 0 {
				return nil, amigo.Errorf(amigo.EINVALID, "import", "line 1: the first row of the sheet must be the header / 第1行: 工作表第一行应为表头")
			}
		}
		if len(cols) == 0 {
			buf.WriteByte('\n') // the importer skips a blank line and keeps counting
			continue
		}
		for i, c := range cols {
			if strings.ContainsAny(c, "\r\n") {
				col, _ := excelize.ColumnNumberToName(i + 1)
				return nil, amigo.Errorf(amigo.EINVALID, "import", "line %d: cell %s%d holds a line break / 第%d行: 单元格 %s%d 内有换行", n, col, n, n, col, n)
			}
		}
		for len(cols) < width {
			cols = append(cols, "")
		}
		if err := cw.Write(cols); err != nil {
			return nil, badXLSX(err)
		}
		cw.Flush()
		if buf.Len() > archive.MaxImportBytes {
			return nil, amigo.Errorf(amigo.EINVALID, "import", "line %d: the sheet is larger than %d MiB as CSV; split it / 第%d行: 工作表超过 %d MiB，请拆分", n, archive.MaxImportBytes>>20, n, archive.MaxImportBytes>>20)
		}
	}
	if err := rows.Error(); err != nil {
		return nil, badXLSX(err)
	}
	return buf.Bytes(), nil
}

func badXLSX(err error) error {
	return &amigo.Error{Kind: amigo.EINVALID, Op: "import", Message: "file: not a readable Excel workbook (.xlsx): " + truncate(err.Error(), 200) + " / 文件：不是可读取的 Excel 工作簿（.xlsx）", Err: err}
}
