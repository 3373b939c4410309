package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"github.com/suyuan32/simple-admin-common/orm/ent/mixins"
)

// DictionaryDetail holds the schema definition for the DictionaryDetail entity.
type DictionaryDetail struct {
	ent.Schema
}

// Fields of the DictionaryDetail.
func (DictionaryDetail) Fields() []ent.Field {
	return []ent.Field{
		field.String("title").
			Comment("Title | 显示名称"),
		field.String("key").
			Comment("Key | 键"),
		field.String("value").
			Comment("Value | 值"),
		field.Uint64("dictionary_id").Optional().
			Comment("Dictionary ID | 字典ID"),
	}
}

// Mixin of the DictionaryDetail.
func (DictionaryDetail) Mixin() []ent.Mixin {
	return []ent.Mixin{
		mixins.IDMixin{},
		mixins.StatusMixin{},
		mixins.SortMixin{},
	}
}

// Edges of the DictionaryDetail.
func (DictionaryDetail) Edges() []ent.Edge {
	return nil
}

// Annotations of the DictionaryDetail.
func (DictionaryDetail) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.WithComments(true),
		schema.Comment("Dictionary detail Table | 字典明细表"),
		entsql.Annotation{Table: "sys_dictionary_details"},
	}
}
