package sqlstore

// NameLoads is how many times the names were read again through the
// database (tests).
func (s *DB) NameLoads() uint64 { return s.nm.loads.Load() }
