module github.com/mtlslb/mtlslb/bench/l7/tool

go 1.26
