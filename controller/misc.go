package controller

import (
	"encoding/json"
	"slices"

	"github.com/gin-gonic/gin"
)

// defaultGroups are the groups of one-api's GroupRatio when the option
// is unset.
var defaultGroups = []string{"default", "svip", "vip"}

// Groups is GET /api/group/ (admin): the group names of the GroupRatio
// option, sorted.
func (a *API) Groups(c *gin.Context) {
	raw := a.Options.Get().GroupRatio
	if raw == "" {
		respond(c, defaultGroups)
		return
	}
	var ratios map[string]float64
	if err := json.Unmarshal([]byte(raw), &ratios); err != nil {
		fail(c, Errorf("the GroupRatio option is not a JSON object of numbers: "+err.Error()))
		return
	}
	names := make([]string, 0, len(ratios))
	for name := range ratios {
		names = append(names, name)
	}
	slices.Sort(names)
	respond(c, names)
}

// The public text routes answer an option as data ("" when unset), as
// one-api's do.

// Notice is GET /api/notice: the Notice option.
func (a *API) Notice(c *gin.Context) { respond(c, a.Options.Get().Raw["Notice"]) }

// About is GET /api/about: the About option.
func (a *API) About(c *gin.Context) { respond(c, a.Options.Get().Raw["About"]) }

// HomePageContent is GET /api/home_page_content: the HomePageContent
// option.
func (a *API) HomePageContent(c *gin.Context) { respond(c, a.Options.Get().Raw["HomePageContent"]) }
