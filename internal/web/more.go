package web

// moreRoutes registers the pages of xlsx.go, tariffs.go and suspects.go.
func (s *Server) moreRoutes() {
	s.xlsxRoutes()
	s.tariffPageRoutes()
	s.suspectRoutes()
}

func init() {
	for k, v := range map[string][2]string{
		"tariffs_page":      {"Tariffs", "电价"},
		"tariff_versions":   {"Stored versions", "已保存的版本"},
		"tariff_version":    {"Version", "版本"},
		"tariff_summary":    {"Summary", "概要"},
		"tariff_edit":       {"Open in the editor", "在编辑器中打开"},
		"tariff_editor":     {"New version", "新版本"},
		"tariff_note":       {"A version is never changed: saving stores a new one (a new valid_from). Check validates the document and prices the sample usage with it, as the quote API will once it is saved.", "版本不可修改：保存即新增一个版本（新的 valid_from）。“检查”校验文档，并按该文档计算示例用电的电费，与保存后报价接口的结果一致。"},
		"tariff_document":   {"Document (JSON, docs/tariffs.md)", "电价文档（JSON，见 docs/tariffs.md）"},
		"tariff_problems":   {"The document has problems:", "文档有误："},
		"tariff_valid":      {"Valid", "校验通过"},
		"tariff_preview":    {"Preview a quote", "试算电费"},
		"quote_date":        {"Date", "日期"},
		"quote_before":      {"kWh earlier in the ladder's cycle (year- or month-to-date)", "阶梯周期内此前用电量（kWh，年或月累计）"},
		"quote_usage":       {"Usage: one period=kWh a line, or one figure (the total)", "用电量：每行一个 时段=kWh，或只填一个总数"},
		"quote_line":        {"Line", "项目"},
		"quote_price":       {"Price", "单价"},
		"tariff_check":      {"Check and preview", "检查并试算"},
		"tariff_save":       {"Save as a new version", "保存为新版本"},
		"tariff_admin_only": {"Only an admin saves tariffs.", "仅管理员可保存电价。"},
		"qline_energy":      {"energy", "电量电费"},
		"qline_tier":        {"ladder", "阶梯加价"},
		"qline_standing":    {"standing charge", "基本电费"},
		"tariff_by":         {"Saved by", "保存人"},
		"tariff_saved":      {"Saved", "已保存"},
		"suspects":          {"Suspect meters", "可疑电表"},
		"suspects_window":   {"Days looked at", "统计日期"},
		"suspects_count":    {"customer meters looked at", "块用户电表参与排查"},
		"suspect_rank":      {"Rank", "排名"},
		"suspect_missing":   {"Days missing", "缺数天数"},
		"suspect_stopped":   {"Stopped", "停走"},
		"suspect_reversed":  {"Reversed", "倒走"},
		"suspect_drop":      {"Drop when the loss rose (kWh)", "线损上升日用电下降（kWh）"},
		"suspect_share":     {"Share of the drop", "下降占比"},
		"suspects_none":     {"No meter of this area shows a sign in these days.", "该台区电表在此期间均无异常迹象。"},
		"import_note_xlsx":  {"An Excel workbook (.xlsx) is read from its first sheet: row N is line N.", "Excel 工作簿（.xlsx）读取第一个工作表：第N行即行号N。"},
	} {
		messages[k] = v
	}
}
