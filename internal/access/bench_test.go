package access

import (
	"testing"

	"github.com/keep-dev/keep/internal/store"
)

const benchRule = `public || owner == auth.id || ("editor" in auth.roles && title.startsWith("Go") && views > 5)`

func BenchmarkCompile(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile(benchRule, sampleSchema, d, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBind(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		p, err := Compile(benchRule, sampleSchema, d, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(d), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := p.Bind(sampleUser); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
