package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"github.com/gofrs/uuid/v5"

	"github.com/suyuan32/simple-admin-common/orm/ent/mixins"
)

// ApiToken holds the schema definition for the ApiToken entity.
type ApiToken struct {
	ent.Schema
}

// Fields of the ApiToken.
func (ApiToken) Fields() []ent.Field {
	return []ent.Field{
		field.String("token").Unique().
			Comment("Token | token"),
		field.Time("expires_at").
			Comment("ExpiresAt | expires_at"),
		field.UUID("owner_uuid", uuid.UUID{}).
			Comment("OwnerUuid | owner_uuid"),
	}
}

// Mixin of the ApiToken.
func (ApiToken) Mixin() []ent.Mixin {
	return []ent.Mixin{
		mixins.UUIDMixin{},
		mixins.StatusMixin{},
	}
}

// Edges of the ApiToken.
func (ApiToken) Edges() []ent.Edge {
	return nil
}

// Annotations of the ApiToken.
func (ApiToken) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.WithComments(true),
		schema.Comment("api token Table | ApiToken表"),
		entsql.Annotation{Table: "sys_api_tokens"},
	}
}
