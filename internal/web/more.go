package web

// moreRoutes registers the pages of xlsx.go, tariffs.go and suspects.go.
func (s *Server) moreRoutes() {
	s.xlsxRoutes()
}

func init() {
	for k, v := range map[string][2]string{
		"import_note_xlsx": {"An Excel workbook (.xlsx) is read from its first sheet: row N is line N.", "Excel 工作簿（.xlsx）读取第一个工作表：第N行即行号N。"},
	} {
		messages[k] = v
	}
}
