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
	f.Fuzz(func(t *testing.T, k uint8, data []byte) {
		kind := Kinds[int(k)%len(Kinds)]
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
