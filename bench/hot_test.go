package main

import "testing"

// go test ./bench -run '^$' -bench .

func BenchmarkParseDetails(b *testing.B)  { benchParseDetails(b) }
func BenchmarkParseHold(b *testing.B)     { benchParseHold(b) }
func BenchmarkParseScan16(b *testing.B)   { benchParseScan16(b) }
func BenchmarkLocalScan1000(b *testing.B) { benchLocalScan1000(b) }
