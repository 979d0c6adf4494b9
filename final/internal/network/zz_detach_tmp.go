package network

// DetachContainer releases everything container id holds on any network.
// (Stand-in until the network branch lands.)
func (s *Store) DetachContainer(id string) {
	nets, _ := s.list()
	for _, n := range nets {
		for _, ep := range s.Endpoints(n) {
			if ep.ID == id {
				s.Detach(n, id, ep.IP)
			}
		}
	}
	s.releasePorts(id)
	deletePortRules(id)
}
