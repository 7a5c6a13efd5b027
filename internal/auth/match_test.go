package auth

import (
	"net"
	"testing"
)

func TestMatchFrom(t *testing.T) {
	tests := []struct {
		patterns []string
		ip       string
		want     bool
	}{
		{[]string{"192.0.2.0/24"}, "192.0.2.200", true},
		{[]string{"192.0.2.0/24"}, "192.0.3.1", false},
		{[]string{"192.0.2.1/24"}, "192.0.2.9", true}, // host bits ignored
		{[]string{"192.0.2.0/24"}, "::ffff:192.0.2.9", true},
		{[]string{"::1/128"}, "::1", true},
		{[]string{"2001:db8::/32"}, "2001:db8:1::5", true},
		{[]string{"2001:db8::/32"}, "2001:db9::5", false},
		{[]string{"10.0.0.1"}, "10.0.0.1", true},
		{[]string{"2001:DB8::0001"}, "2001:db8::1", true},
		{[]string{"10.0.0.*"}, "10.0.0.77", true},
		{[]string{"10.0.?.1"}, "10.0.5.1", true},
		{[]string{"10.0.?.1"}, "10.0.55.1", false},
		{[]string{"*"}, "203.0.113.9", true},
		{[]string{"*", "!203.0.113.9"}, "203.0.113.9", false},
		{[]string{"!203.0.113.9", "*"}, "203.0.113.8", true},
		{[]string{"!10.0.0.0/8"}, "192.0.2.1", false}, // only negations admit nothing
		{[]string{"*.example.com"}, "192.0.2.1", false},
		{[]string{"192.0.2.0/24"}, "", false},
		{nil, "192.0.2.1", false},
	}
	for _, tt := range tests {
		if got := MatchFrom(tt.patterns, net.ParseIP(tt.ip)); got != tt.want {
			t.Errorf("MatchFrom(%q, %s) = %v, want %v", tt.patterns, tt.ip, got, tt.want)
		}
	}
}

func TestAllowsArgv(t *testing.T) {
	tests := []struct {
		allow []string
		argv  []string
		want  bool
	}{
		{nil, []string{"anything"}, true},
		{[]string{"uptime"}, []string{"uptime"}, true},
		{[]string{"uptime"}, []string{"uptime", "-p"}, false},
		{[]string{"ls *"}, []string{"ls", "x y"}, true},     // '*' may match a space inside one argument
		{[]string{"ls *"}, []string{"ls", "x", "y"}, false}, // but never a second argument
		{[]string{"ls *"}, []string{"ls", "/tmp"}, false},   // nor cross '/'
		{[]string{"ls **"}, []string{"ls", "/tmp/x y"}, true},
		{[]string{"ls *"}, []string{"ls"}, false},
		{[]string{"ls*"}, []string{"ls"}, true},
		{[]string{"ls  *"}, []string{"ls", "a"}, true}, // runs of spaces separate once
		{[]string{"systemctl status ?*"}, []string{"systemctl", "status", "nginx"}, true},
		{[]string{"systemctl status ?*"}, []string{"systemctl", "restart", "nginx"}, false},
		{[]string{"cat /var/log/*.log"}, []string{"cat", "/var/log/b.log"}, true},
		{[]string{"cat /var/log/*.log"}, []string{"cat", "/var/log/a/b.log"}, false},
		{[]string{"cat /var/log/**.log"}, []string{"cat", "/var/log/a/b.log"}, true},
		{[]string{"cat /var/log/**"}, []string{"cat", "/var/log/../../etc/shadow"}, false},
		{[]string{"cat /var/log/**"}, []string{"cat", "/var/log/a/.."}, false},
		{[]string{"cat /var/log/**"}, []string{"cat", "/var/log/a..b"}, true}, // not a segment
		{[]string{"cat /srv/../**"}, []string{"cat", "/srv/../x"}, true},      // the pattern spells it
		{[]string{"tail -n 5 /var/log/*"}, []string{"tail", "-n", "5", "/var/log/syslog"}, true},
		{[]string{"tail -n 5 /var/log/*"}, []string{"tail", "-n", "5", "/var/log/../../home/u/.config/rexec/host_ed25519_key"}, false},
		{[]string{"tail -n 5 /var/log/*"}, []string{"tail", "-n", "5", "/var/log/x", ".bashrc"}, false},
		{[]string{"git log *"}, []string{"git", "log", "--output=.bashrc"}, false}, // an option needs a literal '-'
		{[]string{"git log -*"}, []string{"git", "log", "--oneline"}, true},
		{[]string{"echo *"}, []string{"echo", "-"}, false},
		{[]string{"echo *"}, []string{"echo", ""}, true},
		{[]string{`echo \*`}, []string{"echo", "*"}, true},
		{[]string{`echo \*`}, []string{"echo", "x"}, false},
		{[]string{`echo a\,b`}, []string{"echo", "a,b"}, true},
		{[]string{`echo a\ b`}, []string{"echo", "a b"}, true},
		{[]string{`echo a\ b`}, []string{"echo", "a", "b"}, false},
		{[]string{"echo a b"}, []string{"echo", "a b"}, false},
		{[]string{"echo ?"}, []string{"echo", "é"}, true},
		{[]string{"echo ?"}, []string{"echo", "/"}, false},
		{[]string{"echo *??"}, []string{"echo", "€"}, false}, // one character of three bytes: '*' ends between characters, not inside one
		{[]string{"echo *?*??"}, []string{"echo", "0ꗮ"}, false},
		{[]string{"echo *??"}, []string{"echo", "0ꗮ"}, true},
		{[]string{"Uptime"}, []string{"uptime"}, false},
		{[]string{"a*b*c*d*e*f"}, []string{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, false},
		{[]string{"a**b**c**d**e**f"}, []string{"a/b/c/d/e/f"}, true},
		{[]string{"x", "y *"}, []string{"y", "1"}, true},
	}
	for _, tt := range tests {
		o := KeyOptions{Allow: tt.allow}
		if got := o.AllowsArgv(tt.argv); got != tt.want {
			t.Errorf("AllowsArgv(allow=%q, %q) = %v, want %v", tt.allow, tt.argv, got, tt.want)
		}
	}
}
