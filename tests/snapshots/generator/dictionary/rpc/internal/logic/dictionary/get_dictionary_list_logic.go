package dictionary

import (
	"context"

	"github.com/suyuan32/simple-admin-common/utils/pointy"
	"github.com/suyuan32/simple-admin-common/utils/uuidx"
	"github.com/suyuan32/simple-admin-core/rpc/ent/dictionary"
	"github.com/suyuan32/simple-admin-core/rpc/ent/predicate"
	"github.com/suyuan32/simple-admin-core/rpc/internal/svc"
	"github.com/suyuan32/simple-admin-core/rpc/internal/utils/dberrorhandler"
	"github.com/suyuan32/simple-admin-core/rpc/types/core"

	"github.com/zeromicro/go-zero/core/logx"
)

type GetDictionaryListLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewGetDictionaryListLogic(ctx context.Context, svcCtx *svc.ServiceContext) *GetDictionaryListLogic {
	return &GetDictionaryListLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

func (l *GetDictionaryListLogic) GetDictionaryList(in *core.DictionaryListReq) (*core.DictionaryListResp, error) {
	var predicates []predicate.Dictionary
	if in.Name != nil {
		predicates = append(predicates, dictionary.NameContains(*in.Name))
	}
	if in.IsPublic != nil {
		predicates = append(predicates, dictionary.IsPublicEQ(*in.IsPublic))
	}
	if in.OwnerUuid != nil {
		predicates = append(predicates, dictionary.OwnerUUIDEQ(uuidx.ParseUUIDString(*in.OwnerUuid)))
	}
	if in.Status != nil {
		predicates = append(predicates, dictionary.StatusEQ(uint8(*in.Status)))
	}
	result, err := l.svcCtx.DB.Dictionary.Query().Where(predicates...).Page(l.ctx, in.Page, in.PageSize)

	if err != nil {
		return nil, dberrorhandler.DefaultEntError(l.Logger, err, in)
	}

	resp := &core.DictionaryListResp{}
	resp.Total = result.PageDetails.Total

	for _, v := range result.List {
		info := &core.DictionaryInfo{}
		info.Id = pointy.GetPointer(v.ID)
		info.CreatedAt = pointy.GetPointer(v.CreatedAt.UnixMilli())
		info.UpdatedAt = pointy.GetPointer(v.UpdatedAt.UnixMilli())
		info.Status = pointy.GetPointer(uint32(v.Status))
		info.TenantId = pointy.GetPointer(v.TenantID)
		info.CreatedBy = pointy.GetPointer(v.CreatedBy)
		info.Title = pointy.GetPointer(v.Title)
		info.Name = pointy.GetPointer(v.Name)
		info.IsPublic = pointy.GetPointer(v.IsPublic)
		info.OwnerUuid = pointy.GetPointer(v.OwnerUUID.String())
		info.Desc = pointy.GetPointer(v.Desc)
		resp.Data = append(resp.Data, info)
	}

	return resp, nil
}
