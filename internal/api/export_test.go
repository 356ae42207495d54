package api

// Exports for the external tests (package api_test), which run the whole
// application and so cannot live inside package api.

// RoutePatterns returns the pattern of every route, in order.
func RoutePatterns() []string {
	var out []string
	for _, rt := range (&API{}).routes() {
		out = append(out, rt.pattern)
	}
	return out
}

// AdminRoutes returns each admin route's permission.
func AdminRoutes() map[string]string {
	out := map[string]string{}
	for k, v := range adminRoutes {
		out[k] = string(v)
	}
	return out
}
