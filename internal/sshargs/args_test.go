package sshargs

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// parseCases are command lines the tools that use ssh as a transport
// really send (rsync, git, scp, sftp, Ansible, pdsh, GNU parallel), and
// ssh habits, with what each must mean.
var parseCases = []struct {
	name string
	args []string
	want Options
}{
	{"plain", []string{"h", "exit", "4"}, Options{Host: "h", Command: []string{"exit", "4"}}},
	{"issue line", []string{"-p", "7022", "-l", "u", "-o", "ConnectTimeout=5", "-o", "BatchMode=yes", "-T", "-x", "h", "echo", "a  b", "$((1+2))"},
		Options{Host: "h", User: "u", Port: 7022, ConnectTimeout: 5 * time.Second, BatchMode: true, RequestTTY: "no",
			Command: []string{"echo", "a  b", "$((1+2))"}}},
	{"rsync", []string{"-l", "bob", "h", "rsync", "--server", "-vlogDtpre.iLsfxCIvu", ".", "/tmp/dst dir/"},
		Options{Host: "h", User: "bob", Command: []string{"rsync", "--server", "-vlogDtpre.iLsfxCIvu", ".", "/tmp/dst dir/"}}},
	{"git simple", []string{"-p", "2222", "git@h", "git-upload-pack '/repo'"},
		Options{Host: "h", User: "git", Port: 2222, Command: []string{"git-upload-pack '/repo'"}}},
	{"git ssh variant", []string{"-o", "SendEnv=GIT_PROTOCOL", "-p", "7000", "u@h", "git-receive-pack '/r.git'"},
		Options{Host: "h", User: "u", Port: 7000, SendEnv: []string{"GIT_PROTOCOL"}, Command: []string{"git-receive-pack '/r.git'"}}},
	{"git probe", []string{"-G", "h"}, Options{Host: "h", PrintConfig: true}},
	{"sftp -S", []string{"-oForwardX11 no", "-oPermitLocalCommand no", "-oClearAllForwardings yes", "-oForwardAgent no", "-l", "u", "-s", "--", "h", "sftp"},
		Options{Host: "h", User: "u", Subsystem: true, Command: []string{"sftp"}, Ignored: []string{
			"-o ForwardX11=no", "-o PermitLocalCommand=no", "-o ClearAllForwardings=yes", "-o ForwardAgent=no"}}},
	{"scp -S", []string{"-x", "-oPermitLocalCommand=no", "-oClearAllForwardings=yes", "-oRemoteCommand=none", "-oRequestTTY=no", "-oForwardAgent=no", "-s", "--", "h", "sftp"},
		Options{Host: "h", Subsystem: true, RequestTTY: "no", Command: []string{"sftp"}, Ignored: []string{
			"-o PermitLocalCommand=no", "-o ClearAllForwardings=yes", "-o RemoteCommand=none", "-o ForwardAgent=no"}}},
	{"pdsh", []string{"-2", "-a", "-x", "-l", "root", "-oConnectTimeout=10", "h", "uname"},
		Options{Host: "h", User: "root", ConnectTimeout: 10 * time.Second, Command: []string{"uname"}, Ignored: []string{"-2"}}},
	{"ansible", []string{"-C", "-o", "ControlMaster=auto", "-o", "ControlPersist=60s", "-o", "KbdInteractiveAuthentication=no",
		"-o", "PreferredAuthentications=gssapi-with-mic,gssapi-keyex,hostbased,publickey", "-o", "PasswordAuthentication=no",
		"-o", `User="root"`, "-o", "ConnectTimeout=10", "-o", `ControlPath="/root/.ansible/cp/abc"`, "-tt", "h", "/bin/sh -c 'echo ~root && sleep 0'"},
		Options{Host: "h", User: "root", ConnectTimeout: 10 * time.Second, RequestTTY: "force", Command: []string{"/bin/sh -c 'echo ~root && sleep 0'"},
			Ignored: []string{"-C (compression)", "-o ControlMaster=auto", "-o ControlPersist=60s", "-o KbdInteractiveAuthentication=no",
				"-o PreferredAuthentications=gssapi-with-mic,gssapi-keyex,hostbased,publickey", "-o PasswordAuthentication=no",
				"-o ControlPath=/root/.ansible/cp/abc"}}},
	{"options after host", []string{"h", "-p", "22", "-v", "ls", "-l"}, Options{Host: "h", Port: 22, Verbose: 1, Command: []string{"ls", "-l"}}},
	{"clustered", []string{"-qTp7022", "h"}, Options{Host: "h", Quiet: true, RequestTTY: "no", Port: 7022}},
	{"dash dash", []string{"h", "--", "-rf"}, Options{Host: "h", Command: []string{"-rf"}}},
	{"uri", []string{"ssh://u@h:7100", "true"}, Options{Host: "h", User: "u", Port: 7100, Command: []string{"true"}}},
	{"ipv6", []string{"u@[::1]", "true"}, Options{Host: "::1", User: "u", Command: []string{"true"}}},
	{"-l wins over user@ after it", []string{"a@h", "-l", "b"}, Options{Host: "h", User: "b"}},
	{"-l before user@ wins", []string{"-l", "b", "a@h"}, Options{Host: "h", User: "b"}},
	{"-o User first wins", []string{"-o", "User=a", "-o", "User=b", "h"}, Options{Host: "h", User: "a"}},
	{"-p beats -o Port", []string{"-o", "Port=1", "-p", "2", "h"}, Options{Host: "h", Port: 2}},
	{"-p before -o Port", []string{"-p", "2", "-o", "Port=1", "h"}, Options{Host: "h", Port: 2}},
	{"identities", []string{"-i", "a", "-oIdentityFile=b", "-o", "IdentitiesOnly yes", "h"},
		Options{Host: "h", Identities: []string{"a", "b"}, IdentitiesOnly: true}},
	{"setenv", []string{"-o", `SetEnv=A=1 "B=x y"`, "-o", "SendEnv LANG LC_*", "h"},
		Options{Host: "h", SetEnv: []string{"A=1", "B=x y"}, SendEnv: []string{"LANG", "LC_*"}}},
	{"strict", []string{"-o", "StrictHostKeyChecking=off", "-o", "UserKnownHostsFile=/dev/null", "h"},
		Options{Host: "h", StrictHostKeyChecking: "no", KnownHostsFiles: []string{"/dev/null"}}},
	{"keepalive", []string{"-o", "ServerAliveInterval=1m", "-o", "ServerAliveCountMax=3", "h"},
		Options{Host: "h", ServerAliveInterval: time.Minute, ServerAliveCountMax: 3}},
	{"control", []string{"-O", "check", "h"}, Options{Host: "h", Control: "check"}},
	{"-N -n -E -e", []string{"-N", "-n", "-E", "/tmp/log", "-e", "none", "h"},
		Options{Host: "h", NoCommand: true, StdinNull: true, LogFile: "/tmp/log", EscapeChar: "none"}},
	{"ignored with args", []string{"-L", "1:h:2", "-S", "/tmp/cp", "-c", "aes128-gcm@openssh.com", "h"},
		Options{Host: "h", Ignored: []string{"-L 1:h:2", "-S /tmp/cp", "-c aes128-gcm@openssh.com"}}},
	{"version", []string{"-V"}, Options{Version: true}},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.args)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.args, err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.args, *got, tc.want)
			}
		})
	}
}

// badCases must be refused with ssh's wording, before anything runs.
var badCases = []struct {
	args []string
	want string
}{
	{[]string{"-z", "h"}, "unknown option -- z"},
	{[]string{"-p"}, "option requires an argument -- p"},
	{[]string{"-p", "0", "h"}, "Bad port '0'"},
	{[]string{"-p", "x", "h"}, "Bad port 'x'"},
	{[]string{"-o", "Bogus=1", "h"}, "Bad configuration option: bogus"},
	{[]string{"-o", "Port", "h"}, "missing argument"},
	{[]string{"-o", "=x", "h"}, "missing argument"},
	{[]string{"-o", "Port=99999", "h"}, "Badly formatted port number"},
	{[]string{"-o", "ConnectTimeout=soon", "h"}, "invalid time value"},
	{[]string{"-o", "BatchMode=maybe", "h"}, `unsupported option "BatchMode" value "maybe"`},
	{[]string{"-o", "RequestTTY=sometimes", "h"}, "unsupported option"},
	{[]string{"-o", "SetEnv=NOEQUALS", "h"}, "Invalid environment SetEnv"},
	{[]string{"-o", "ProxyCommand=nc %h %p", "h"}, "ProxyCommand is not supported"},
	{[]string{"-J", "jump", "h"}, "jump hosts are not supported"},
	{[]string{"-O", "frobnicate", "h"}, "Invalid multiplex command."},
	{[]string{"-e", "abc", "h"}, "Bad escape character"},
	{[]string{}, "no destination given"},
	{[]string{"-v"}, "no destination given"},
	{[]string{"@h"}, "usage: ssh"},
	{[]string{"h;rm"}, "hostname contains invalid characters"},
	{[]string{"--", "-h"}, "hostname contains invalid characters"},
	{[]string{"-s", "h"}, "-s needs the subsystem's name"},
	{[]string{"-N", "h", "ls"}, "cannot execute command with -N"},
	{[]string{"ssh://h/path"}, "invalid URI"},
	{[]string{"-x\n", "h"}, `unknown option -- \n`},
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range badCases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			o, err := Parse(tc.args)
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) = %+v, %v; want a UsageError", tc.args, o, err)
			}
			if !strings.Contains(ue.Msg, tc.want) || strings.ContainsAny(ue.Msg, "\n\r") && !strings.HasPrefix(ue.Msg, "usage") {
				t.Errorf("Parse(%q) error %q; want it to contain %q, on one line", tc.args, ue.Msg, tc.want)
			}
		})
	}
}

func TestParseTooManyArgs(t *testing.T) {
	args := make([]string, MaxArgs+1)
	for i := range args {
		args[i] = "x"
	}
	if _, err := Parse(args); err == nil {
		t.Fatal("Parse accepted more than MaxArgs words")
	}
}

func TestSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"5", 5 * time.Second, true}, {"0", 0, true}, {"1h30m", 90 * time.Minute, true}, {"2w", 0, false},
		{"", 0, true}, {"5x", 0, false}, {"-1", 0, false}, {"9999999999", 0, false}, {"1d", 24 * time.Hour, true},
	} {
		got, ok := seconds(tc.in, maxConnectTimeout)
		if got != tc.want || ok != tc.ok {
			t.Errorf("seconds(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParse: no input panics, and what Parse accepts has a destination
// without blanks or shell syntax.
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(strings.Join(tc.args, "\x00"))
	}
	for _, tc := range badCases {
		f.Add(strings.Join(tc.args, "\x00"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := Parse(strings.Split(s, "\x00"))
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if o.Version {
			return
		}
		if checkHost(o.Host) != nil {
			t.Fatalf("accepted host %q", o.Host)
		}
		if o.Port < 0 || o.Port > 65535 {
			t.Fatalf("port %d", o.Port)
		}
	})
}
