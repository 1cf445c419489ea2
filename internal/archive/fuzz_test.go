package archive

import (
	"strings"
	"testing"
)

// FuzzDecodeCSV: any bytes decode to rows or to a bilingual error naming
// where; never a panic.
func FuzzDecodeCSV(f *testing.F) {
	f.Add(uint8(3), []byte(meterCSV))
	f.Add(uint8(0), []byte("name,time_zone\nCampus,Asia/Shanghai\n"))
	f.Add(uint8(1), []byte("site,address,name,plain_tcp\nCampus,0171-2082,c1,true\n"))
	f.Add(uint8(2), []byte("site,name,loss_low_percent,loss_high_percent\nCampus,A1,-1,10\n"))
	f.Add(uint8(4), []byte("username,role,password\nops,operator,secret-pw\n"))
	f.Add(uint8(3), []byte("\ufeffaddress,site\n\"0000\"\"1\",x\n"))
	f.Add(uint8(5), []byte("name,phone\n张三,138\n"))
	f.Add(uint8(6), []byte("number,site,mode,tariff,customer_name,meters,from,opening_balance_fen\nP1,Campus,prepaid,zj,王五,000000000001;000000000002,2026-01-01T00:00:00+08:00,800\n"))
	kinds := append(append([]string(nil), Kinds...), KindCustomers, KindAccounts)
	f.Fuzz(func(t *testing.T, k uint8, data []byte) {
		kind := kinds[int(k)%len(kinds)]
		rows, err := DecodeCSV(kind, strings.NewReader(string(data)))
		if err != nil {
			if rows != nil {
				t.Fatal("rows with an error")
			}
			return
		}
		for i, r := range rows {
			if r.Line < 2 || (i > 0 && r.Line <= rows[i-1].Line) || r.Input == nil {
				t.Fatalf("row %d: %+v", i, r)
			}
		}
	})
}
