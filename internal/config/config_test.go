package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestCORSOrigins(t *testing.T) {
	tests := []struct {
		origin string
		ok     bool
	}{
		{"https://app.example.com", true},
		{"http://localhost:5173", true},
		{"https://[::1]:8443", true},
		{"*", false},
		{"https://*.example.com", false},
		{"null", false},
		{"app.example.com", false},
		{"ftp://app.example.com", false},
		{"https://app.example.com/", false},
		{"https://app.example.com/path", false},
		{"https://user@app.example.com", false},
		{"https://app.example.com?x", false},
		{"https://", false},
	}
	for _, tt := range tests {
		t.Run(tt.origin, func(t *testing.T) {
			c := Default()
			c.CORSOrigins = []string{tt.origin}
			err := c.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "--cors-origins") {
				t.Fatalf("error does not name the flag: %v", err)
			}
		})
	}
}

func TestCORSOriginsFromFlagAndEnv(t *testing.T) {
	env := map[string]string{"KEEP_CORS_ORIGINS": "https://a.example, https://b.example"}
	c, err := Load("serve", nil, func(k string) string { return env[k] }, true, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.CORSOrigins) != 2 || c.CORSOrigins[1] != "https://b.example" {
		t.Fatalf("from env: %q", c.CORSOrigins)
	}
	c, err = Load("serve", []string{"--cors-origins", "https://c.example"}, func(k string) string { return env[k] }, true, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.CORSOrigins) != 1 || c.CORSOrigins[0] != "https://c.example" {
		t.Fatalf("flag over env: %q", c.CORSOrigins)
	}
}

func TestTLSValidation(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want string // "" for valid
	}{
		{"plain", func(*Config) {}, ""},
		{"cert and key", func(c *Config) { c.TLSCert, c.TLSKey = "c.pem", "k.pem" }, ""},
		{"cert without key", func(c *Config) { c.TLSCert = "c.pem" }, "go together"},
		{"dev and cert", func(c *Config) { c.DevTLS, c.TLSCert, c.TLSKey = true, "c.pem", "k.pem" }, "exclude"},
		{"redirect without TLS", func(c *Config) { c.HTTPRedirect = "127.0.0.1:8081" }, "needs TLS"},
		{"redirect with dev TLS", func(c *Config) { c.DevTLS, c.HTTPRedirect = true, "127.0.0.1:8081" }, ""},
		{"redirect not host:port", func(c *Config) { c.DevTLS, c.HTTPRedirect = true, "8081" }, "not host:port"},
		{"redirect on the main address", func(c *Config) { c.DevTLS, c.HTTPRedirect = true, c.HTTPAddr }, "differ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.set(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("postgres://u:hunter2@db/x")
	b, _ := json.Marshal(struct{ S Secret }{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s), string(b)} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("secret printed: %s", out)
		}
	}
}
