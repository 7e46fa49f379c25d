package lint

import (
	"errors"
	"fmt"
)

// Tiendo's build leaves out Loki's LogQL parser, and the thousand packages it brings: Tiendo's
// dashboards query Prometheus only, so a Loki target is refused, not checked (VENDORED.md).
func parseLogQL(expr string, variables []Template) (any, error) {
	return nil, errors.New("this build of the linter does not parse LogQL (see tests/deploy/third_party/dashboard_linter/VENDORED.md)")
}

func NewTargetLogQLAutoRule() *TargetRuleFunc {
	return &TargetRuleFunc{
		name:        "target-logql-auto-rule",
		description: "Checks that each Loki target uses $__auto for range vectors when appropriate.",
		fn: func(d Dashboard, p Panel, t Target) TargetRuleResults {
			r := TargetRuleResults{}

			// skip hidden targets
			if t.Hide {
				return r
			}

			// check if the datasource is Loki
			isLoki := false
			if templateDS := getTemplateDatasource(d); templateDS != nil && templateDS.Query == Loki {
				isLoki = true
			} else if ds, err := t.GetDataSource(); err == nil && ds.Type == Loki {
				isLoki = true
			}

			// skip if the datasource is not Loki
			if !isLoki {
				return r
			}

			// skip if the panel does not have queries
			if !panelHasQueries(p) {
				return r
			}

			if _, err := parseLogQL(t.Expr, d.Templating.List); err != nil {
				r.AddError(d, p, t, fmt.Sprintf("Invalid LogQL query: %v", err))
			}
			return r
		},
	}
}
