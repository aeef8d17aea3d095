module greenstd.invalid/bench/go

go 1.18
