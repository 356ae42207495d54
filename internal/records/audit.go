package records

import (
	"context"
	"sort"

	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/store"
)

// auditsWrites reports whether writes to c are recorded: collections that
// ask for it, and always the users collection (accounts are identity).
func (c *Collection) auditsWrites() bool { return c.Audited || c.Name == "users" }

// recordTarget names a record in the audit log. Users are "user:<id>", as
// everywhere else in the log.
func recordTarget(c *Collection, id string) string {
	if c.Name == "users" {
		return audit.User(id)
	}
	return "record:" + c.Name + "/" + id
}

// schemaDetails describes a collection definition for the audit log: field
// names and types, the rules, and the audit flags. Never any record value.
func schemaDetails(c *Collection) map[string]any {
	fields := make([]string, 0, len(c.Fields))
	for _, f := range c.Fields {
		fields = append(fields, f.Name+":"+string(f.Type))
	}
	return map[string]any{"fields": fields, "rules": c.Rules, "audited": c.Audited, "audit_reads": c.AuditReads}
}

// fieldNames lists what a write set, sorted, without values (they may be
// secrets or personal data).
func fieldNames(vals map[string]any) []string {
	out := make([]string, 0, len(vals))
	for k := range vals {
		if k == "password_hash" {
			k = "password" // the column holds the hash of what was set
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// auditWrite appends the entry of a write to c in its transaction.
func (s *Service) auditWrite(ctx context.Context, q store.Querier, c *Collection, action, id string, details map[string]any) error {
	if !c.auditsWrites() {
		return nil
	}
	if details == nil {
		details = map[string]any{}
	}
	details["collection"] = c.Name
	return s.audit.Append(ctx, q, audit.Event{Action: action, Target: recordTarget(c, id), Details: details})
}

// auditRead records a read of a collection that asks for it, before the
// answer is sent.
func (s *Service) auditRead(ctx context.Context, c *Collection, action, target string, details map[string]any) error {
	if !c.AuditReads {
		return nil
	}
	details["collection"] = c.Name
	return s.audit.Record(ctx, audit.Event{Action: action, Target: target, Details: details})
}

// cascade collects what a delete did to other records, for its one audit
// entry. It keeps at most maxCascadeListed names and counts the rest.
type cascade struct {
	deleted, nulled []string
	more            int
}

const maxCascadeListed = 100

func (cs *cascade) add(list *[]string, what string) {
	if cs == nil {
		return
	}
	if len(cs.deleted)+len(cs.nulled) >= maxCascadeListed {
		cs.more++
		return
	}
	*list = append(*list, what)
}

func (cs *cascade) details() map[string]any {
	d := map[string]any{}
	if len(cs.deleted) > 0 {
		d["cascade_deleted"] = cs.deleted
	}
	if len(cs.nulled) > 0 {
		d["cascade_set_null"] = cs.nulled
	}
	if cs.more > 0 {
		d["cascade_more"] = cs.more
	}
	return d
}

// maxListedIDs bounds the record ids a list's audit entry names.
const maxListedIDs = 100

// listDetails describes a list for its audit entry: which records it
// returned, and a keyed digest of the filter (whose literals may be the
// very values an encrypted field protects).
func listDetails(log *audit.Log, opt ListOptions, page *Page) map[string]any {
	ids := make([]string, 0, min(len(page.Items), maxListedIDs))
	for _, r := range page.Items {
		if len(ids) == maxListedIDs {
			break
		}
		ids = append(ids, r.ID())
	}
	d := map[string]any{"returned": len(page.Items), "ids": ids}
	if opt.Filter != "" {
		d["filter"] = log.Redact(opt.Filter)
	}
	if opt.Sort != "" {
		d["sort"] = opt.Sort
	}
	return d
}
