package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"github.com/gofrs/uuid/v5"

	"github.com/suyuan32/simple-admin-common/orm/ent/mixins"
)

// Dictionary holds the schema definition for the Dictionary entity.
type Dictionary struct {
	ent.Schema
}

// Fields of the Dictionary.
func (Dictionary) Fields() []ent.Field {
	return []ent.Field{
		field.String("title").
			Comment("Title | title"),
		field.String("name").Unique().
			Comment("Name | name"),
		field.Bool("is_public").
			Comment("IsPublic | is_public"),
		field.UUID("owner_uuid", uuid.UUID{}).Optional().
			Comment("OwnerUuid | owner_uuid"),
		field.String("desc").Optional().
			Comment("Desc | desc"),
	}
}

// Mixin of the Dictionary.
func (Dictionary) Mixin() []ent.Mixin {
	return []ent.Mixin{
		mixins.IDMixin{},
		mixins.StatusMixin{},
		mixins.TenantMixin{},
		mixins.CreatedByMixin{},
	}
}

// Edges of the Dictionary.
func (Dictionary) Edges() []ent.Edge {
	return nil
}

// Annotations of the Dictionary.
func (Dictionary) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.WithComments(true),
		schema.Comment("dictionary Table | Dictionary表"),
		entsql.Annotation{Table: "sys_dictionaries"},
	}
}
