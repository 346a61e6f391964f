package v1alpha1

// SecretRefs lists every Secret key the spec refers to, in a stable order without
// duplicates: the credentials the runner needs.
func (s *SyncJobSpec) SecretRefs() []SecretKeyRef {
	var refs []SecretKeyRef
	seen := map[SecretKeyRef]bool{}
	add := func(r *SecretKeyRef) {
		if r == nil || r.Name == "" || seen[*r] {
			return
		}
		seen[*r] = true
		refs = append(refs, *r)
	}
	addAuth := func(a *HTTPAuth) {
		if a != nil {
			add(a.Username)
			add(&a.Secret)
		}
	}
	if p := s.Source.Postgres; p != nil {
		add(&p.DSN)
	}
	if h := s.Source.HTTP; h != nil {
		addAuth(h.Auth)
	}
	if p := s.Sink.Postgres; p != nil {
		add(&p.DSN)
	}
	if h := s.Sink.HTTP; h != nil {
		addAuth(h.Auth)
	}
	return refs
}
