package postgres

// CutOff makes the elector's database calls fail from now on, as a network
// cut or a frozen process would: it must stop leading before its lease
// runs out on the database's clock.
func (e *Elector) CutOff() { e.cut.Store(true) }
