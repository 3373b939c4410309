package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"github.com/suyuan32/simple-admin-common/orm/ent/mixins"
)

// Configuration holds the schema definition for the Configuration entity.
type Configuration struct {
	ent.Schema
}

// Fields of the Configuration.
func (Configuration) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").
			Comment("Name | name"),
		field.String("key").
			Comment("Key | key"),
		field.String("value").
			Comment("Value | value"),
		field.String("category").
			Comment("Category | category"),
		field.String("remark").Optional().
			Comment("Remark | remark"),
	}
}

// Mixin of the Configuration.
func (Configuration) Mixin() []ent.Mixin {
	return []ent.Mixin{
		mixins.IDMixin{},
		mixins.StateMixin{},
		mixins.SortMixin{},
	}
}

// Edges of the Configuration.
func (Configuration) Edges() []ent.Edge {
	return nil
}

// Annotations of the Configuration.
func (Configuration) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.WithComments(true),
		schema.Comment("configuration Table | Configuration表"),
		entsql.Annotation{Table: "sys_configurations"},
	}
}
