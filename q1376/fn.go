package q1376

// Function numbers (Fn) by name, per AFN, as dlt645 names its DIs.
const (
	// AFN 04 set / 0A query parameters.
	FnMeterArchive uint16 = 10 // 终端电能表/交流采样装置配置参数

	// AFN 05 control.
	FnRemoteTrip   uint16 = 1  // 遥控跳闸
	FnAllowClose   uint16 = 2  // 允许合闸
	FnKeepPowerOn  uint16 = 25 // 终端保电投入
	FnTimeSync     uint16 = 31 // 对时命令
	FnKeepPowerOff uint16 = 33 // 终端保电解除

	// AFN 0C real-time data.
	FnTerminalClock uint16 = 2   // 终端日历时钟
	FnInstant       uint16 = 25  // 当前功率、电压、电流…
	FnForwardActive uint16 = 129 // 当前正向有功电能示值
	FnReverseActive uint16 = 131 // 当前反向有功电能示值

	// AFN 0D frozen data.
	FnDailyForward   uint16 = 161 // 日冻结正向有功电能示值
	FnDailyReverse   uint16 = 163 // 日冻结反向有功电能示值
	FnMonthlyForward uint16 = 177 // 月冻结正向有功电能示值
	FnMonthlyReverse uint16 = 179 // 月冻结反向有功电能示值

	// AFN 0E events.
	FnImportantEvents uint16 = 1 // 请求重要事件
	FnNormalEvents    uint16 = 2 // 请求一般事件

	// AFN 10 forwarding.
	FnTransparent uint16 = 1 // 透明转发
)

// EventsRequest returns AFN 0E F1/F2 request data: the records from
// pointer pm up to, not including, pn (a ring of 256; pn = pm - 1 asks for
// every record from pm on).
func EventsRequest(pm, pn uint8) []byte { return []byte{pm, pn} }
