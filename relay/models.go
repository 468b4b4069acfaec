package relay

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"one-api/middleware"
	"one-api/model"
	"one-api/relay/openai"
)

// modelCreated is the "created" one-api reports for every model.
const modelCreated = 1626777600

// Model is an entry of GET /v1/models, in OpenAI's shape.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// ModelList is the body of GET /v1/models.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}

// listModels answers the models this token may use: those served for its
// user's group, narrowed to its allow-list when it has one.
func (r *Relay) listModels(c *gin.Context) {
	ti := middleware.TokenInfoFrom(c)
	t := r.table.Load()
	names := t.Models(ti.Auth.Group)
	list := ModelList{Object: "list", Data: make([]Model, 0, len(names))}
	for _, name := range names {
		if middleware.ModelAllowed(ti.Auth, name) {
			list.Data = append(list.Data, t.model(ti.Auth.Group, name))
		}
	}
	c.JSON(http.StatusOK, list)
}

// retrieveModel answers GET /v1/models/:model, 404 in OpenAI's words for a
// model this token may not use.
func (r *Relay) retrieveModel(c *gin.Context) {
	ti := middleware.TokenInfoFrom(c)
	name := c.Param("model")
	t := r.table.Load()
	if !t.Serves(ti.Auth.Group, name) || !middleware.ModelAllowed(ti.Auth, name) {
		writeError(c, &apiError{status: http.StatusNotFound, body: openai.Error{
			Message: fmt.Sprintf("The model '%s' does not exist", name),
			Type:    openai.TypeInvalidRequest, Param: "model", Code: "model_not_found",
		}})
		return
	}
	c.JSON(http.StatusOK, t.model(ti.Auth.Group, name))
}

// model describes name as served for group; the owner is named after the
// type of its first channel.
func (t *Table) model(group, name string) Model {
	m := Model{ID: name, Object: "model", Created: modelCreated, OwnedBy: "one-api"}
	if tiers := t.routes[group][name]; len(tiers) > 0 {
		m.OwnedBy = ownerOf(tiers[0].channels[0].Type)
	}
	return m
}

// ownerOf is the owned_by of a model served by a channel of type typ.
func ownerOf(typ int) string {
	switch typ {
	case model.ChannelOpenAI:
		return "openai"
	case model.ChannelAzure:
		return "azure"
	case model.ChannelCustom:
		return "custom"
	case model.ChannelOpenAICompatible:
		return "openai-compatible"
	}
	return "one-api"
}
