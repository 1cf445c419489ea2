package web

import (
	"net/http"
	"net/url"
	"strings"
)

// lang is a page's language: "zh" or "en".
type lang string

// langOf is the language the operator chose (the cookie), else the
// browser's first preference between the two, else Chinese.
func langOf(r *http.Request) lang {
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == "en" || c.Value == "zh") {
		return lang(c.Value)
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		p := strings.ToLower(strings.TrimSpace(part))
		switch {
		case strings.HasPrefix(p, "zh"):
			return "zh"
		case strings.HasPrefix(p, "en"):
			return "en"
		}
	}
	return "zh"
}

// T is the text of key in l (the key itself when there is none: a test
// checks that every key used has both languages).
func (l lang) T(key string) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	if l == "en" {
		return m[0]
	}
	return m[1]
}

// Other is the language the switch offers.
func (l lang) Other() string {
	if l == "en" {
		return "zh"
	}
	return "en"
}

// Pick takes l's side of a bilingual message "English / 中文" (the API's
// errors); a message without the separator is returned whole.
func (l lang) Pick(msg string) string {
	en, zh, ok := strings.Cut(msg, " / ")
	if !ok {
		return msg
	}
	if l == "en" {
		return en
	}
	return zh
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// messages: key → {English, 中文}.
var messages = map[string][2]string{
	"amigo":          {"amigo metering", "amigo 用电信息采集"},
	"switch_lang":    {"中文", "English"},
	"login":          {"Log in", "登录"},
	"logout":         {"Log out", "退出"},
	"username":       {"Username", "用户名"},
	"password":       {"Password", "密码"},
	"dashboard":      {"Dashboard", "总览"},
	"meters":         {"Meters", "电表"},
	"meter":          {"Meter", "电表"},
	"collectors":     {"Collectors", "采集器"},
	"collector":      {"Collector", "采集器"},
	"areas":          {"Areas", "台区"},
	"area":           {"Area", "台区"},
	"archive":        {"Archive", "档案"},
	"audit":          {"Audit log", "审计日志"},
	"online":         {"online", "在线"},
	"offline":        {"offline", "离线"},
	"faulty":         {"faulty", "故障"},
	"unknown":        {"unknown", "未知"},
	"status":         {"Status", "状态"},
	"all":            {"all", "全部"},
	"success_rate":   {"Yesterday's reading success rate", "昨日抄表成功率"},
	"energy_today":   {"Energy supplied today", "今日供电量"},
	"energy_yday":    {"yesterday", "昨日"},
	"energy_note":    {"areas' supply meters, primary side", "台区总表，一次侧"},
	"line_loss":      {"Line loss", "线损"},
	"band":           {"band", "合理区间"},
	"out_of_band":    {"out of band", "越限"},
	"in_band":        {"in band", "正常"},
	"incomplete":     {"incomplete", "数据不全"},
	"open_alarms":    {"Alarms of the last 24 hours", "近24小时告警"},
	"no_alarms":      {"No alarms.", "无告警。"},
	"search":         {"Search", "查询"},
	"address_prefix": {"Address (or its first digits)", "表地址（或前几位）"},
	"filter":         {"Filter", "筛选"},
	"total":          {"total", "共"},
	"page":           {"page", "页"},
	"prev":           {"Previous", "上一页"},
	"next":           {"Next", "下一页"},
	"address":        {"Address", "地址"},
	"relay":          {"Relay", "继电器"},
	"relay_open":     {"open (supply off)", "断开（已断电）"},
	"relay_closed":   {"closed (supply on)", "闭合（供电）"},
	"relay_unknown":  {"unknown", "未知"},
	"last_reading":   {"Last reading", "最近读数"},
	"none":           {"none", "无"},
	"registers":      {"Registers", "电能示值"},
	"total_kwh":      {"Total forward active (kWh)", "正向有功总（kWh）"},
	"tariffs":        {"T1 / T2 / T3 / T4 (kWh)", "尖 / 峰 / 平 / 谷（kWh）"},
	"reverse_kwh":    {"Reverse active (kWh)", "反向有功（kWh）"},
	"instant":        {"Instantaneous values", "瞬时量"},
	"power":          {"Active power (W)", "有功功率（W）"},
	"voltage":        {"Voltage, phase A (V)", "A相电压（V）"},
	"read_at":        {"read at", "抄读时间"},
	"daily_chart":    {"Daily consumption, 90 days (kWh)", "日用电量，90天（kWh）"},
	"monthly_chart":  {"Monthly consumption, 24 months (kWh)", "月用电量，24个月（kWh）"},
	"events":         {"Events", "事件"},
	"commands":       {"Commands", "命令"},
	"actions":        {"Actions", "操作"},
	"cmd_read":       {"Read now", "立即抄读"},
	"cmd_disconnect": {"Disconnect", "拉闸"},
	"cmd_reconnect":  {"Reconnect", "合闸"},
	"cmd_time-sync":  {"Time sync", "校时"},
	"confirm":        {"Confirm", "确认"},
	"cancel":         {"Cancel", "取消"},
	"confirm_q":      {"Send this command to meter", "确认向电表发送此命令"},
	"confirm_audit":  {"The command is recorded in the audit log under your name.", "该命令将以您的名义记入审计日志。"},
	"cmd_sent":       {"Command accepted", "命令已受理"},
	"type":           {"Type", "类型"},
	"by":             {"By", "发起人"},
	"created":        {"Created", "创建时间"},
	"result":         {"Result", "结果"},
	"time":           {"Time", "时间"},
	"severity":       {"Severity", "级别"},
	"message":        {"Message", "内容"},
	"name":           {"Name", "名称"},
	"last_seen":      {"Last heartbeat", "最近心跳"},
	"meter_count":    {"Meters", "电表数"},
	"supply_meter":   {"Supply meter", "总表"},
	"loss_chart":     {"Line loss, last 14 days (%)", "近14天线损率（%）"},
	"day":            {"Day", "日期"},
	"percent":        {"%", "%"},
	"supply_kwh":     {"Supply (kWh)", "供电量（kWh）"},
	"customers_kwh":  {"Customers (kWh)", "售电量（kWh）"},
	"missing":        {"Meters missing data", "缺数电表"},
	"export":         {"Export CSV", "导出 CSV"},
	"import":         {"Import CSV", "导入 CSV"},
	"import_note":    {"All rows or none: a bad row names its line and nothing is kept.", "整批导入：任一行有误则指明行号，全部不保存。"},
	"imported":       {"Imported", "已导入"},
	"rows":           {"rows", "行"},
	"kind":           {"Kind", "类别"},
	"file":           {"File", "文件"},
	"sites":          {"Sites", "站点"},
	"users":          {"Users", "用户"},
	"actor":          {"Actor", "操作人"},
	"action":         {"Action", "动作"},
	"object":         {"Object", "对象"},
	"detail":         {"Detail", "详情"},
	"err_csrf":       {"The form expired or came from another site; reload the page and try again.", "表单已过期或来自其他网站，请刷新页面后重试。"},
	"err_notfound":   {"Not found.", "未找到。"},
	"err_login":      {"Wrong username or password.", "用户名或密码错误。"},
	"error":          {"Error", "错误"},
	"back":           {"Back", "返回"},
	"site":           {"Site", "站点"},
	"installed":      {"Installed", "安装时间"},
	"ct_pt":          {"CT × PT", "CT × PT"},
	"since":          {"since", "自"},
	"no_data":        {"No data yet.", "暂无数据。"},
	"success":        {"Success rate", "成功率"},
	"read_of":        {"read of", "成功/应抄"},
	"direct":         {"GPRS (direct)", "GPRS 直连"},
	"cmd_pending":    {"pending", "待发送"},
	"cmd_sent_state": {"sent", "已发送"},
	"cmd_succeeded":  {"succeeded", "成功"},
	"cmd_failed":     {"failed", "失败"},
	"cmd_expired":    {"expired", "已过期"},
}

// The customer's app.
func init() {
	for k, v := range map[string][2]string{
		"app_name":              {"amigo electricity", "amigo 智慧用电"},
		"account":               {"Account number", "户号"},
		"app_login_note":        {"First time? Use the set-up code from the service desk; you then choose your own password.", "首次登录请使用营业厅提供的初始码，随后设置您自己的密码。"},
		"app_setup":             {"Choose your password", "设置密码"},
		"app_setup_note":        {"Your set-up code works once. Choose a password of at least 8 characters.", "初始码只能使用一次。请设置至少8位的密码。"},
		"password2":             {"Password again", "再次输入密码"},
		"save":                  {"Save", "保存"},
		"err_pw_mismatch":       {"The two passwords differ.", "两次输入的密码不一致。"},
		"err_app_login":         {"Wrong account number or password.", "户号或密码错误。"},
		"app_home":              {"My electricity", "我的用电"},
		"app_usage":             {"Usage", "用电量"},
		"app_bills":             {"Bills", "账单"},
		"app_pay":               {"Pay", "缴费"},
		"app_order":             {"Payment", "支付"},
		"app_history":           {"History", "明细"},
		"app_supply":            {"Supply", "通断电"},
		"app_notices":           {"Notices", "通知"},
		"balance":               {"Balance", "余额"},
		"amount_due":            {"Amount due", "应缴金额"},
		"yuan":                  {"yuan", "元"},
		"supply_on":             {"Supply on", "供电中"},
		"supply_off":            {"Supply off", "已断电"},
		"supply_unknown":        {"Supply status unknown", "供电状态未知"},
		"today_kwh":             {"Today so far", "今日已用"},
		"month_kwh":             {"This month", "本月用电"},
		"month_fen":             {"Charged this month", "本月电费"},
		"yesterday_fen":         {"Yesterday's charge", "昨日电费"},
		"range_day":             {"Days", "日"},
		"range_month":           {"Months", "月"},
		"range_year":            {"Years", "年"},
		"total_kwh_short":       {"Total", "合计"},
		"no_bills":              {"No bills yet.", "暂无账单。"},
		"pay_amount":            {"Amount (yuan)", "金额（元）"},
		"pay_go":                {"Pay with WeChat", "微信支付"},
		"pay_disabled":          {"Online payment is not set up at this station; pay at the service desk.", "本站未开通在线缴费，请到营业厅缴费。"},
		"order_no":              {"Order", "订单号"},
		"order_created":         {"Waiting for payment", "等待支付"},
		"order_paid":            {"Paid", "已支付"},
		"order_scan":            {"Open this payment code in WeChat:", "请在微信中打开此支付码："},
		"sandbox_pay":           {"Pay in the sandbox (demo)", "在沙箱中支付（演示）"},
		"pay_done":              {"Paid and credited to your account.", "支付成功，已入账。"},
		"supply_back":           {"Your supply is being restored.", "正在为您恢复供电。"},
		"entry_daily":           {"daily charge", "日扣费"},
		"entry_payment":         {"payment", "缴费"},
		"entry_refund":          {"refund", "退款"},
		"entry_adjustment":      {"adjustment", "调整"},
		"entry_bill":            {"bill", "账单"},
		"receipt":               {"Receipt", "收据"},
		"amount":                {"Amount", "金额"},
		"switch_off":            {"Switch my supply off", "断开供电"},
		"switch_on":             {"Switch my supply on", "恢复供电"},
		"switch_q_off":          {"Switch the supply of this account off? Everything on its meters loses power.", "确认断开本户供电？电表后的所有用电设备将断电。"},
		"switch_q_on":           {"Switch the supply of this account on?", "确认恢复本户供电？"},
		"switch_sent":           {"Sent to your meter; it takes a minute.", "已发送到电表，约一分钟内生效。"},
		"switch_disabled":       {"Switching is not available at this station.", "本站未开通自助通断电。"},
		"arrears_note":          {"Your supply was cut for arrears: pay first, it is restored automatically.", "因欠费停电：请先缴费，缴费后自动复电。"},
		"no_notices":            {"No notices.", "暂无通知。"},
		"offline_note":          {"You are offline. Figures show when the connection is back.", "当前离线，联网后显示数据。"},
		"more":                  {"More", "更多"},
		"meters_of":             {"Meters", "电表"},
		"accounts":              {"Accounts", "账户"},
		"mode":                  {"Mode", "模式"},
		"mode_prepaid":          {"prepaid", "预付费"},
		"mode_postpaid":         {"postpaid", "后付费"},
		"tariff":                {"Tariff", "电价"},
		"ledger":                {"Ledger", "账务明细"},
		"method":                {"Method", "方式"},
		"method_cash":           {"cash", "现金"},
		"method_card":           {"card", "刷卡"},
		"method_wechat":         {"WeChat Pay", "微信支付"},
		"desk_pay":              {"Take payment", "收款"},
		"cashier":               {"Cashier", "收款员"},
		"print":                 {"Print", "打印"},
		"receipt_dup":           {"This payment was recorded before: the same receipt.", "该笔款项此前已入账，收据相同。"},
		"issue_code":            {"New app set-up code", "生成App初始码"},
		"code_note":             {"Give this one-time code to the customer: it logs in to the app once, then asks for their own password. An earlier code or password no longer works.", "请将此一次性初始码交给客户：首次登录App后需设置自己的密码。之前的初始码或密码随即失效。"},
		"setup_code":            {"Set-up code", "初始码"},
		"billing_runs":          {"Billing runs", "出账"},
		"billing_run":           {"Billing run", "出账批次"},
		"bill_no":               {"Bill number", "账单号"},
		"cycle":                 {"Cycle", "账期"},
		"due_date":              {"Due date", "缴费截止日"},
		"due_by":                {"due by", "缴费截止"},
		"bill_kind_bill":        {"bill", "账单"},
		"bill_kind_credit_note": {"credit note", "冲正单"},
		"bill_issued":           {"issued", "已出账"},
		"bill_held":             {"held for review", "待复核"},
		"pdf":                   {"PDF", "PDF"},
		"start_run":             {"Start the run", "开始出账"},
		"run_note":              {"A run bills every postpaid account of the site for the cycle from the meters' frozen readings; a bill whose boundary reading is missing or estimated is held for review. Starting a cycle again resumes its unfinished run and never issues a bill twice. The start is recorded in the audit log under your name.", "出账按电表冻结读数为站点内所有后付费账户计算该账期账单；边界读数缺失或为估算值的账单待复核。同一账期再次出账会续做未完成的批次，绝不重复出账。开始出账将以您的名义记入审计日志。"},
		"run_running":           {"running", "进行中"},
		"run_done":              {"done", "已完成"},
		"run_accounts":          {"Accounts", "账户数"},
		"run_issued":            {"issued", "已出账"},
		"run_held":              {"held", "待复核"},
		"run_skipped":           {"billed before", "此前已出账"},
		"run_not_due":           {"not due yet", "未到账期"},
		"recent_runs":           {"Recent runs", "最近的出账批次"},
		"progress":              {"Progress", "进度"},
		"run_bills":             {"Bills of the site's cycle", "本站点本账期账单"},
		"run_print":             {"Print all bills", "打印全部账单"},
		"run_printed":           {"%d bills sent to the print queue (each prints once).", "已将 %d 张账单送入打印队列（每张只打印一次）。"},
	} {
		messages[k] = v
	}
}
