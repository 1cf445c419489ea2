package tariff

import (
	"sort"

	"github.com/amigo-metering/amigo"
)

// Set holds the versions of tariffs by name and picks the version in force
// on a day: the one with the latest ValidFrom on or before it. Versions are
// never replaced: a bill records the version it used (Tariff.Version), so
// adding a version changes no bill already issued. A Set is not safe for
// concurrent change; readers may share one that no longer changes.
type Set struct {
	byName map[string][]*Tariff // each sorted by ValidFrom
}

// Add adds a version; a second version of the same name with the same
// ValidFrom is an amigo.ECONFLICT error.
func (s *Set) Add(t *Tariff) error {
	if s.byName == nil {
		s.byName = map[string][]*Tariff{}
	}
	vs := s.byName[t.Name]
	i := sort.Search(len(vs), func(i int) bool { return !vs[i].ValidFrom.Before(t.ValidFrom) })
	if i < len(vs) && vs[i].ValidFrom == t.ValidFrom {
		return amigo.Errorf(amigo.ECONFLICT, "tariff set", "%s already has a version from %s / 该电价在此日期已有版本", t.Name, t.ValidFrom)
	}
	vs = append(vs, nil)
	copy(vs[i+1:], vs[i:])
	vs[i] = t
	s.byName[t.Name] = vs
	return nil
}

// At returns the version of name in force on d; amigo.ENOTFOUND when the
// name is unknown or its first version starts after d.
func (s *Set) At(name string, d Date) (*Tariff, error) {
	vs := s.byName[name]
	if len(vs) == 0 {
		return nil, amigo.Errorf(amigo.ENOTFOUND, "tariff set", "no tariff %q / 无此电价", name)
	}
	i := sort.Search(len(vs), func(i int) bool { return d.Before(vs[i].ValidFrom) })
	if i == 0 {
		return nil, amigo.Errorf(amigo.ENOTFOUND, "tariff set", "tariff %q is not in force on %s: its first version starts %s / 该日期电价尚未生效", name, d, vs[0].ValidFrom)
	}
	return vs[i-1], nil
}

// Versions returns the versions of name, oldest first.
func (s *Set) Versions(name string) []*Tariff {
	return append([]*Tariff(nil), s.byName[name]...)
}

// Names returns the tariff names, sorted.
func (s *Set) Names() []string {
	names := make([]string, 0, len(s.byName))
	for n := range s.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
