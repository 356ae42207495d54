package access

import "strings"

// exprCase is an expression with the rows it must match on every engine.
// The same table drives the golden SQL files, the semantic tests and the
// fuzzer's seed corpus.
type exprCase struct {
	name string
	src  string
	want []string // ids matched for sampleUser
	anon []string // ids matched for the anonymous caller; nil: not checked
	// req, when set, is the request both callers are bound with
	// (BindRequest); otherwise Bind is used.
	req *Request
}

// bind binds p for a caller as the case says.
func (tc exprCase) bind(p *Predicate, a Auth) (string, []any, error) {
	if tc.req != nil {
		return p.BindRequest(a, *tc.req)
	}
	return p.Bind(a)
}

var none = []string{}

// all lists every sample row id.
var all = []string{"r01", "r02", "r03", "r04", "r05", "r06", "r07", "r08", "r09", "r10", "r11"}

var exprCases = []exprCase{
	// Numbers: int literals against a double column, NULLs, negation.
	{name: "number_gt_int", src: `views > 500`, want: []string{"r01", "r08"}},
	{name: "number_eq_int", src: `views == 5`, want: []string{"r05"}},
	{name: "number_ge_double", src: `views >= 1.5`, want: []string{"r01", "r02", "r04", "r05", "r06", "r08", "r10", "r11"}},
	{name: "number_ne_int", src: `views != 5`, want: []string{"r01", "r02", "r04", "r06", "r07", "r08", "r09", "r10", "r11"}},
	{name: "number_gt_negative", src: `views > -10`, want: []string{"r01", "r02", "r04", "r05", "r06", "r07", "r08", "r09", "r10", "r11"}},
	{name: "number_int_on_left", src: `500 < views`, want: []string{"r01", "r08"}},
	{name: "not_matches_null", src: `!(views > 500)`, want: []string{"r02", "r03", "r04", "r05", "r06", "r07", "r09", "r10", "r11"}},
	{name: "number_is_null", src: `views == null`, want: []string{"r03"}},
	{name: "number_not_null", src: `views != null`, want: []string{"r01", "r02", "r04", "r05", "r06", "r07", "r08", "r09", "r10", "r11"}},
	{name: "number_in_ints", src: `views in [5, 10, 42]`, want: []string{"r02", "r05", "r10"}},
	{name: "number_field_vs_field", src: `views > score`, want: []string{"r01", "r02", "r08"}},
	{name: "number_or", src: `views == 1.5 || views == -5`, want: []string{"r06", "r09"}},
	{name: "number_vs_auth_int", src: `views > auth.level`, want: []string{"r01", "r02", "r04", "r05", "r08", "r10", "r11"}},
	{name: "number_in_auth_list", src: `views in auth.nums`, want: []string{"r05", "r10"}},

	// Text: case-sensitive, %, _ and \ are literal.
	{name: "text_eq", src: `title == "GoLang"`, want: []string{"r06"}},
	{name: "text_eq_other_column", src: `body == "GOLANG"`, want: []string{"r06"}},
	{name: "injection", src: `title == "x' OR 1=1 --"`, want: none},
	{name: "starts_with", src: `title.startsWith("Go")`, want: []string{"r01", "r06"}},
	{name: "starts_with_percent", src: `title.startsWith("G%")`, want: []string{"r03"}},
	{name: "starts_with_underscore", src: `title.startsWith("under_")`, want: []string{"r05"}},
	{name: "starts_with_empty", src: `title.startsWith("")`, want: []string{"r01", "r02", "r03", "r04", "r05", "r06", "r08", "r09", "r10", "r11"}},
	{name: "ends_with", src: `title.endsWith("go")`, want: []string{"r11"}},
	{name: "ends_with_unicode", src: `title.endsWith("gö")`, want: []string{"r10"}},
	{name: "contains_percent", src: `title.contains("%")`, want: []string{"r03", "r04"}},
	{name: "contains_percent_prefix", src: `title.contains("G%")`, want: []string{"r03"}},
	{name: "contains_underscore", src: `title.contains("_")`, want: []string{"r05"}},
	{name: "contains_backslash", src: `title.contains("\\")`, want: []string{"r08"}},
	{name: "contains_glob_chars", src: `body.contains("*[")`, want: []string{"r08"}},
	{name: "contains_case_sensitive", src: `title.contains("go")`, want: []string{"r02", "r11"}},
	{name: "contains_empty", src: `title.contains("")`, want: []string{"r01", "r02", "r03", "r04", "r05", "r06", "r08", "r09", "r10", "r11"}},
	{name: "not_contains", src: `!title.contains("go")`, want: []string{"r01", "r03", "r04", "r05", "r06", "r07", "r08", "r09", "r10"}},
	{name: "text_order_code_points", src: `title < "a"`, want: []string{"r01", "r03", "r04", "r06", "r09"}},
	{name: "text_in_list", src: `title in ["GoLang", "xgo", "nope"]`, want: []string{"r06", "r11"}},
	{name: "text_in_empty_list", src: `title in []`, want: none},
	{name: "text_size", src: `size(title) == 10`, want: []string{"r08", "r10"}},
	{name: "text_size_member_vs_number", src: `title.size() > views`, want: []string{"r05", "r06", "r09"}},
	{name: "starts_with_field", src: `title.startsWith(key)`, want: []string{"r05", "r09", "r11"}},
	{name: "ends_with_field", src: `title.endsWith(key)`, want: []string{"r05", "r09", "r11"}},
	{name: "contains_field", src: `title.contains(key)`, want: []string{"r05", "r08", "r09", "r11"}},
	{name: "literal_starts_with_field", src: `"Go tips and more".startsWith(title)`, want: []string{"r01", "r09"}},
	{name: "literal_ends_with_field", src: `"xxgo".endsWith(title)`, want: []string{"r09", "r11"}},
	{name: "literal_contains_field", src: `"100% sure thing".contains(title)`, want: []string{"r04", "r09"}},
	{name: "starts_with_auth", src: `title.startsWith(auth.name)`, want: []string{"r01", "r06"}},
	{name: "text_field_vs_field", src: `editor == owner`, want: []string{"r05", "r06", "r07", "r10"}},
	{name: "body_or", src: `body.contains("%") || body.startsWith("a_")`, want: []string{"r04", "r05"}},
	{name: "not_eq_and_not_null", src: `!(title == "GoLang") && title != null`, want: []string{"r01", "r02", "r03", "r04", "r05", "r08", "r09", "r10", "r11"}},
	{name: "system_id", src: `id == "r03"`, want: []string{"r03"}},

	// Lists.
	{name: "list_size", src: `size(tags) > 1`, want: []string{"r01", "r04", "r08"}},
	{name: "list_size_zero", src: `size(tags) == 0`, want: []string{"r02", "r09"}},
	{name: "list_size_vs_auth", src: `tags.size() >= auth.level`, want: []string{"r08"}},
	{name: "list_has_literal", src: `"go" in tags`, want: []string{"r01", "r06"}},
	{name: "list_not_has", src: `!("go" in tags)`, want: []string{"r02", "r03", "r04", "r05", "r07", "r08", "r09", "r10", "r11"}},
	{name: "list_has_field", src: `key in tags`, want: []string{"r01", "r04", "r06", "r08", "r10"}},
	{name: "list_has_id_json_column", src: `id in labels`, want: []string{"r07"}},
	{name: "list_has_key_json_column", src: `key in labels`, want: []string{"r06", "r11"}},
	{name: "list_has_literal_json_column", src: `"x" in labels`, want: []string{"r01"}},
	{name: "list_has_auth_id", src: `auth.id in tags`, want: []string{"r07"}, anon: none},
	{name: "list_has_auth_id_json_column", src: `auth.id in labels`, want: []string{"r04"}, anon: none},
	{name: "list_is_null", src: `tags == null`, want: []string{"r03", "r11"}},
	{name: "list_size_in_literal", src: `size(tags) in [0, 3]`, want: []string{"r02", "r08", "r09"}},
	{name: "list_size_in_auth", src: `size(tags) in auth.sizes`, want: []string{"r01", "r04", "r08"}},

	// Request-time lists of every kind.
	{name: "bool_in_auth", src: `public in auth.flags`, want: []string{"r02", "r05", "r07", "r09"}},
	{name: "date_in_auth", src: `created in auth.dates`, want: []string{"r04", "r07", "r10"}},
	{name: "text_in_auth_with_null", src: `title in auth.titles`, want: []string{"r06", "r11"}},
	{name: "text_in_empty_auth", src: `owner in auth.empty`, want: none},

	// Auth.
	{name: "owner_is_caller", src: `owner == auth.id`, want: []string{"r01", "r04", "r07", "r10"}, anon: none},
	{name: "owner_is_not_caller", src: `owner != auth.id`, want: []string{"r02", "r05", "r06", "r08", "r11"}, anon: none},
	{name: "signed_in_and_owner", src: `auth.id != "" && owner == auth.id`, want: []string{"r01", "r04", "r07", "r10"}, anon: none},
	{name: "role_or_owner", src: `"editor" in auth.roles || owner == auth.id`, want: all, anon: none},
	{name: "owner_in_teams", src: `owner in auth.teams`, want: []string{"r02", "r06", "r08"}},
	{name: "guarded_teams", src: `auth.teams != null && owner in auth.teams`, want: []string{"r02", "r06", "r08"}, anon: none},
	{name: "owner_in_literal_and_auth", src: `owner in ["u3", auth.id]`, want: []string{"r01", "r04", "r06", "r07", "r10"}, anon: []string{"r06"}},
	{name: "custom_bool_field", src: `auth.verified == true && public`, want: []string{"r01", "r04", "r06", "r08", "r10"}, anon: none},
	{name: "email_domain", src: `auth.email.endsWith("@corp.com")`, want: all, anon: none},
	{name: "anonymous_only", src: `auth.id == ""`, want: none, anon: all},
	{name: "created_before_auth_time", src: `created < auth.since`, want: []string{"r02", "r07", "r11"}},

	// Bools.
	{name: "bool_field", src: `public`, want: []string{"r01", "r04", "r06", "r08", "r10"}},
	{name: "bool_not", src: `!public`, want: []string{"r02", "r03", "r05", "r07", "r09", "r11"}},
	{name: "bool_eq_false", src: `public == false`, want: []string{"r02", "r05", "r07", "r09"}},
	{name: "bool_and", src: `public && views > 5`, want: []string{"r01", "r04", "r08", "r10"}},
	{name: "bool_or", src: `public || views < 0`, want: []string{"r01", "r04", "r06", "r08", "r09", "r10"}},
	{name: "bool_in", src: `public in [true]`, want: []string{"r01", "r04", "r06", "r08", "r10"}},
	{name: "nested", src: `(public || views > 500) && !(owner == "u1")`, want: []string{"r06", "r08"}},
	{name: "constant_true", src: `true`, want: all, anon: all},
	{name: "constant_folded", src: `1 == 2 || views == 5`, want: []string{"r05"}},

	// Dates.
	{name: "date_gt", src: `created > timestamp("2024-01-01T00:00:00Z")`, want: []string{"r01", "r05", "r06", "r08", "r09"}},
	{name: "date_ge_sub_ms", src: `created >= timestamp("2024-01-01T00:00:00.0005Z")`, want: []string{"r01", "r05", "r06", "r08", "r09"}},
	{name: "date_le_sub_ms", src: `created <= timestamp("2024-01-01T00:00:00.0005Z")`, want: []string{"r02", "r04", "r07", "r10", "r11"}},
	{name: "date_eq", src: `created == timestamp("2024-01-01T01:00:00+01:00")`, want: []string{"r04", "r10"}},
	{name: "date_in", src: `created in [timestamp("2024-01-01T00:00:00Z"), timestamp("2022-01-01T00:00:00Z")]`, want: []string{"r04", "r07", "r10"}},
	{name: "date_is_null", src: `created == null`, want: []string{"r03"}},
	{name: "date_field_vs_field", src: `updated == created`, want: []string{"r01", "r02", "r04", "r05", "r06", "r07", "r08", "r09", "r10", "r11"}},

	// JSON.
	{name: "json_is_null", src: `meta == null`, want: []string{"r02", "r03", "r05", "r07", "r08", "r09", "r11"}},
	{name: "json_not_null", src: `meta != null`, want: []string{"r01", "r04", "r06", "r10"}},

	// Request: request.method and request.body are request-time values.
	{name: "req_method", src: `request.method == "PATCH"`, want: all, anon: all, req: &sampleRequest},
	{name: "req_method_unset", src: `request.method == "PATCH"`, want: none, anon: none},
	{name: "req_method_or_owner", src: `request.method == "GET" || owner == auth.id`, want: []string{"r01", "r04", "r07", "r10"}, anon: none, req: &sampleRequest},
	{name: "req_has_status_or_editor", src: `!has(request.body.status) || "editor" in auth.roles`, want: all, anon: none, req: &sampleRequest},
	{name: "req_has_status_unset", src: `!has(request.body.status) || "editor" in auth.roles`, want: all, anon: all},
	{name: "req_has_missing", src: `has(request.body.nope)`, want: none, anon: none, req: &sampleRequest},
	{name: "req_has_null_value", src: `has(request.body.cleared)`, want: all, req: &sampleRequest},
	{name: "req_has_nested", src: `has(request.body.meta.a) && public`, want: []string{"r01", "r04", "r06", "r08", "r10"}, req: &sampleRequest},
	{name: "req_body_index", src: `request.body["status"] == "draft" && views > 500`, want: []string{"r01", "r08"}, req: &sampleRequest},
	{name: "req_body_text", src: `title == request.body.title`, want: []string{"r06"}, req: &sampleRequest},
	{name: "req_body_number", src: `views == request.body.views`, want: []string{"r10"}, req: &sampleRequest},
	{name: "req_body_list", src: `owner in request.body.owners`, want: []string{"r02", "r06", "r08"}, req: &sampleRequest},
	{name: "req_guarded_missing", src: `has(request.body.nope) && title == request.body.nope`, want: none, req: &sampleRequest},
	{name: "req_guard_absorbs_error", src: `!has(request.body.nope) || title == request.body.nope`, want: all, req: &sampleRequest},
	{name: "has_auth", src: `has(auth.team)`, want: all, anon: none},
	{name: "has_auth_fixed", src: `has(auth.id)`, want: all, anon: all},

	// Relation traversal: owner.team reads the team of the owner's user.
	{name: "trav_eq_auth", src: `owner.team == auth.team`, want: []string{"r01", "r04", "r06", "r07", "r10"}, anon: none},
	{name: "trav_eq_literal", src: `owner.team == "b"`, want: []string{"r02", "r08"}},
	{name: "trav_is_null", src: `owner.team == null`, want: []string{"r03", "r05", "r09", "r11"}},
	{name: "trav_not_null", src: `owner.team != null`, want: []string{"r01", "r02", "r04", "r06", "r07", "r08", "r10"}},
	{name: "trav_not", src: `!(owner.team == "a")`, want: []string{"r02", "r03", "r05", "r08", "r09", "r11"}},
	{name: "trav_ne", src: `owner.team != "a"`, want: []string{"r02", "r08"}},
	{name: "trav_number", src: `owner.rank > 2`, want: []string{"r01", "r04", "r07", "r10", "r11"}},
	{name: "trav_bool", src: `owner.admin`, want: []string{"r01", "r04", "r07", "r10"}},
	{name: "trav_bool_not", src: `!owner.admin`, want: []string{"r02", "r03", "r05", "r06", "r08", "r09", "r11"}},
	{name: "trav_date", src: `owner.joined < timestamp("2024-06-01T00:00:00Z")`, want: []string{"r01", "r02", "r04", "r07", "r08", "r10"}},
	{name: "trav_list_has", src: `"go" in owner.skills`, want: []string{"r01", "r04", "r07", "r10", "r11"}},
	{name: "trav_list_size", src: `size(owner.skills) == 0`, want: []string{"r02", "r08"}},
	{name: "trav_text_order", src: `owner.title < "H"`, want: []string{"r02", "r08"}},
	{name: "trav_starts_with", src: `owner.title.startsWith("Go")`, want: []string{"r02", "r08"}},
	{name: "trav_in_literal", src: `owner.team in ["a", "c"]`, want: []string{"r01", "r04", "r06", "r07", "r10"}},
	{name: "trav_json_null", src: `owner.bio == null`, want: []string{"r02", "r03", "r05", "r06", "r08", "r09", "r11"}},
	{name: "trav_same_column_name", src: `owner.manager == owner`, want: []string{"r11"}},
	{name: "trav_vs_own_column", src: `owner.title.contains(title)`, want: none},
	{name: "trav_two_relations", src: `owner.team == editor.team`, want: []string{"r06", "r07", "r10"}},
	{name: "trav_id", src: `owner.id == "u1"`, want: []string{"r01", "r04", "r07", "r10"}},
	{name: "trav_id_null", src: `owner.id == null`, want: []string{"r03", "r09"}},
	{name: "trav_or_owner", src: `owner == auth.id || owner.team == auth.team`, want: []string{"r01", "r04", "r06", "r07", "r10"}, anon: none},
	{name: "trav_signed_in", src: `auth.id != "" && owner.team == auth.team`, want: []string{"r01", "r04", "r06", "r07", "r10"}, anon: none},
	{name: "trav_and_request", src: `owner.team == auth.team && (!has(request.body.status) || "editor" in auth.roles)`, want: []string{"r01", "r04", "r06", "r07", "r10"}, anon: none, req: &sampleRequest},
	// Traversals compared with values compile to semi-joins; these check
	// them against NULL owners (r03, r09), a dangling owner (r05), target
	// fields that are NULL (u3, u4) and negation, which must match the
	// complement.
	{name: "trav_not_ne", src: `!(owner.team != "a")`, want: []string{"r01", "r03", "r04", "r05", "r06", "r07", "r09", "r10", "r11"}},
	{name: "trav_not_in_literal", src: `!(owner.team in ["a", "c"])`, want: []string{"r02", "r03", "r05", "r08", "r09", "r11"}},
	{name: "trav_in_params", src: `owner.team in [auth.team, "z"]`, want: []string{"r01", "r04", "r06", "r07", "r10"}, anon: none},
	{name: "trav_in_auth_list", src: `owner.manager in auth.teams`, want: []string{"r01", "r04", "r07", "r10"}},
	{name: "trav_not_in_auth_list", src: `!(owner.manager in auth.teams)`, want: []string{"r02", "r03", "r05", "r06", "r08", "r09", "r11"}},
	{name: "trav_ends_with", src: `owner.title.endsWith("dev")`, want: []string{"r02", "r08"}},
	{name: "trav_not_ends_with", src: `!owner.title.endsWith("dev")`, want: []string{"r01", "r03", "r04", "r05", "r06", "r07", "r09", "r10", "r11"}},
	{name: "trav_contains", src: `owner.title.contains("e")`, want: []string{"r01", "r02", "r04", "r07", "r08", "r10"}},
	{name: "trav_starts_with_empty", src: `owner.title.startsWith("")`, want: []string{"r01", "r02", "r04", "r07", "r08", "r10", "r11"}},
	{name: "trav_not_starts_with_empty", src: `!owner.title.startsWith("")`, want: []string{"r03", "r05", "r06", "r09"}},
	{name: "trav_literal_starts_with", src: `"Go developer".startsWith(owner.title)`, want: []string{"r02", "r08"}},
	{name: "trav_not_literal_starts_with", src: `!"Go developer".startsWith(owner.title)`, want: []string{"r01", "r03", "r04", "r05", "r06", "r07", "r09", "r10", "r11"}},
	{name: "trav_literal_ends_with", src: `"box".endsWith(owner.title)`, want: []string{"r11"}},
	{name: "trav_size_text", src: `size(owner.title) > 2`, want: []string{"r01", "r02", "r04", "r07", "r08", "r10"}},
	{name: "trav_not_size_text", src: `!(size(owner.title) > 2)`, want: []string{"r03", "r05", "r06", "r09", "r11"}},
	{name: "trav_not_number", src: `!(owner.rank > 2)`, want: []string{"r02", "r03", "r05", "r06", "r08", "r09"}},
	{name: "trav_date_ne_unaligned", src: `owner.joined != timestamp("2024-01-01T00:00:00.0001Z")`, want: []string{"r01", "r02", "r04", "r07", "r08", "r10", "r11"}},
	{name: "trav_not_date_ne_unaligned", src: `!(owner.joined != timestamp("2024-01-01T00:00:00.0001Z"))`, want: []string{"r03", "r05", "r06", "r09"}},
	{name: "trav_eq_missing_auth", src: `owner.team == auth.nope`, want: none, anon: none},
	{name: "trav_not_eq_missing_auth", src: `!(owner.team == auth.nope)`, want: all, anon: all},
	{name: "trav_not_list_has", src: `!("go" in owner.skills)`, want: []string{"r02", "r03", "r05", "r06", "r08", "r09"}},
	{name: "trav_not_is_null", src: `!(owner.team == null)`, want: []string{"r01", "r02", "r04", "r06", "r07", "r08", "r10"}},
	{name: "trav_eq_or_null", src: `owner.team == "a" || owner.team == null`, want: []string{"r01", "r03", "r04", "r05", "r06", "r07", "r09", "r10", "r11"}},
	{name: "trav_bool_ne", src: `owner.admin != true`, want: []string{"r02", "r08", "r11"}},
	{name: "trav_not_bool_ne", src: `!(owner.admin != true)`, want: []string{"r01", "r03", "r04", "r05", "r06", "r07", "r09", "r10"}},
	{name: "trav_not_eq_auth", src: `!(owner.team == auth.team)`, want: []string{"r02", "r03", "r05", "r08", "r09", "r11"}, anon: all},
}

// bindErrorCases compile, but Bind must refuse them for the caller.
var bindErrorCases = []struct {
	name string
	src  string
	auth Auth
}{
	{"text_against_number", `views == auth.id`, sampleUser},
	{"string_not_list", `owner in auth.name`, sampleUser},
	{"missing_list", `owner in auth.teams`, anonymous},
	{"missing_bool", `auth.verified`, anonymous},
	{"number_against_text", `title == auth.level`, sampleUser},
	{"eval_error", `views > auth.level + auth.name`, sampleUser},
	{"missing_body_key", `title == request.body.status`, sampleUser},
	{"body_key_wrong_type", `owner.rank > request.body.title`, sampleUser},
}

// compileErrorCases must fail to compile with a *CompileError.
var compileErrorCases = []struct {
	name string
	src  string
}{
	{"unknown_field", `titel == "x"`},
	{"unknown_field_nested", `public && (titel == "x")`},
	{"matches", `title.matches("^a")`},
	{"matches_request_time", `auth.email.matches("^a")`},
	{"macro_all", `tags.all(t, t == "a")`},
	{"macro_exists", `tags.exists(t, t == "a")`},
	{"macro_map", `size(tags.map(t, t)) > 0`},
	{"macro_filter", `size(tags.filter(t, t == "a")) > 0`},
	{"has_record_field", `has(meta.a)`},
	{"has_auth_nested", `has(auth.a.b)`},
	{"has_request", `has(request.method)`},
	{"has_traversal", `has(owner.team)`},
	{"request_bare", `request == null`},
	{"request_unknown", `request.path == "/"`},
	{"request_index", `request["method"] == "GET"`},
	{"request_method_type", `request.method == 5`},
	{"trav_two_levels", `owner.manager.team == "a"`},
	{"trav_unknown_field", `owner.nope == "a"`},
	{"trav_list", `tags.team == "a"`},
	{"trav_no_target", `key.team == "a"`},
	{"trav_type", `owner.rank == "a"`},
	{"trav_json", `owner.bio == "x"`},
	{"trav_kinds", `owner.team == views`},
	{"arithmetic", `views + 1 > 2`},
	{"arithmetic_negate", `-views > 2`},
	{"ternary", `public ? views > 1 : views > 2`},
	{"json_compare", `meta == "x"`},
	{"json_order", `meta > 5`},
	{"json_select", `meta.a == 1`},
	{"json_bare", `meta`},
	{"list_compare", `tags == ["a"]`},
	{"list_order", `size(tags) > 0 && tags < ["a"]`},
	{"bool_order", `public > false`},
	{"unknown_function", `lower(title) == "x"`},
	{"function_on_field", `title.lowerAscii() == "x"`},
	{"conversion_on_field", `string(views) == "5"`},
	{"type_error", `title == 5`},
	{"not_bool", `views`},
	{"not_bool_text", `title`},
	{"bare_auth", `auth == null`},
	{"dynamic_auth_index", `auth[auth.id] == "x"`},
	{"index_field", `tags[0] == "a"`},
	{"wrong_list_element", `views in [1, "a"]`},
	{"bad_timestamp", `created > timestamp("yesterday")`},
	{"null_order", `views < null`},
	{"field_in_list_literal", `title in [body]`},
	{"in_map", `title in {"a": 1}`},
	{"size_json", `size(meta) > 1`},
	{"empty", `   `},
	{"syntax", `title ==`},
	{"too_long", `title == "` + strings.Repeat("a", 2100) + `"`},
	{"too_deep", `((((((((((((((((((((((((((public))))))))))))))))))))))))))`},
	{"too_deep_select", `auth.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z == 1`},
	{"message_literal", `google.protobuf.Timestamp{seconds: 1} == created`},
	{"field_cmp_kinds", `dyn(title) == views`},
	{"literal_not_bool", `"yes"`},
}
