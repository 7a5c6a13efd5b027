package config

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
)

// Flags are daemon settings given on `rexec serve`'s command line, laid
// over the config file's: the file mirrors every flag and flags win
// (docs/CLI.md §8). Which flag a ServerFile field has is read from its
// tags (FlagName); the zero value lays nothing over a file.
type Flags struct {
	// Values holds every flag's value: the user's, or the flag's default
	// where the user gave none. Fields without a flag are ignored.
	Values ServerFile
	// Set reports whether the user gave the flag of that name (without
	// its dashes). nil: none was given.
	Set func(flag string) bool
}

// Over returns file with the flags laid over it: a field whose flag the
// user gave takes the flag's value, and a field that file leaves at its
// zero value (the key is not in the file) takes the flag's default, so
// Values' defaults apply whatever the file omits. A field without a flag
// (tagged flag:"-": the [penalty] tuning and [syn_watch]) keeps file's.
func (f Flags) Over(file ServerFile) ServerFile {
	if f.Set == nil {
		f.Set = func(string) bool { return false }
	}
	dst, src := reflect.ValueOf(&file).Elem(), reflect.ValueOf(f.Values)
	for _, fl := range flagFields(dst.Type(), "", nil) {
		d, s := dst.FieldByIndex(fl.index), src.FieldByIndex(fl.index)
		if f.Set(fl.name) || d.IsZero() {
			d.Set(s)
		}
	}
	return file
}

// LoadServerSettings reads the daemon's config file and lays flags over
// it, validated: the file at path, or when path is "" the home's
// config.toml if it exists (none is no error: the flags alone). It
// returns the settings and the file they came from ("" when none), which
// a reload reads again.
func (h Home) LoadServerSettings(path string, flags Flags) (ServerFile, string, error) {
	explicit := path != ""
	if !explicit {
		path = h.Path(ConfigFile)
	}
	file, err := LoadServerFile(path)
	switch {
	case err == nil:
	case !explicit && errors.Is(err, fs.ErrNotExist):
		file, path = ServerFile{}, ""
	default:
		return file, path, err
	}
	settings := flags.Over(file)
	return settings, path, settings.Validate()
}

// FlagNames lists the names of the flags that ServerFile's fields have,
// in field order: the command line must define exactly these (and its
// own, such as --config), which cli's tests check.
func FlagNames() []string {
	var names []string
	for _, fl := range flagFields(reflect.TypeFor[ServerFile](), "", nil) {
		names = append(names, fl.name)
	}
	return names
}

// flagField is one ServerFile field that has a flag.
type flagField struct {
	name  string // the flag's name, without dashes
	index []int  // reflect index path from ServerFile
}

// flagFields walks t's fields: a field's flag is its `flag` tag, or else
// its toml key with '-' for '_', prefixed by its table's ("penalty-" for
// penalty.exempt). A field or table tagged flag:"-" has none.
func flagFields(t reflect.Type, prefix string, index []int) []flagField {
	var out []flagField
	for i := range t.NumField() {
		sf := t.Field(i)
		name, tagged := sf.Tag.Lookup("flag")
		if name == "-" {
			continue
		}
		if !tagged {
			key, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
			name = prefix + strings.ReplaceAll(key, "_", "-")
		}
		idx := append(append([]int(nil), index...), i)
		if sf.Type.Kind() == reflect.Struct {
			out = append(out, flagFields(sf.Type, name+"-", idx)...)
			continue
		}
		out = append(out, flagField{name: name, index: idx})
	}
	return out
}

// ChangedSettings names the top-level keys (a table counting as one:
// "penalty") whose values differ between a and b, in field order: what a
// reload changed.
func ChangedSettings(a, b ServerFile) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			key, _, _ := strings.Cut(va.Type().Field(i).Tag.Get("toml"), ",")
			out = append(out, key)
		}
	}
	return out
}
