package dictionarydetail

import (
	"context"

	"github.com/suyuan32/simple-admin-common/utils/pointy"
	"github.com/suyuan32/simple-admin-core/rpc/ent/dictionarydetail"
	"github.com/suyuan32/simple-admin-core/rpc/ent/predicate"
	"github.com/suyuan32/simple-admin-core/rpc/internal/svc"
	"github.com/suyuan32/simple-admin-core/rpc/internal/utils/dberrorhandler"
	"github.com/suyuan32/simple-admin-core/rpc/types/core"

	"github.com/zeromicro/go-zero/core/logx"
)

type GetDictionaryDetailListLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewGetDictionaryDetailListLogic(ctx context.Context, svcCtx *svc.ServiceContext) *GetDictionaryDetailListLogic {
	return &GetDictionaryDetailListLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

func (l *GetDictionaryDetailListLogic) GetDictionaryDetailList(in *core.DictionaryDetailListReq) (*core.DictionaryDetailListResp, error) {
	var predicates []predicate.DictionaryDetail
	if in.Title != nil {
		predicates = append(predicates, dictionarydetail.TitleContains(*in.Title))
	}
	if in.Key != nil {
		predicates = append(predicates, dictionarydetail.KeyContains(*in.Key))
	}
	if in.Value != nil {
		predicates = append(predicates, dictionarydetail.ValueContains(*in.Value))
	}
	if in.Status != nil {
		predicates = append(predicates, dictionarydetail.StatusEQ(uint8(*in.Status)))
	}
	result, err := l.svcCtx.DB.DictionaryDetail.Query().Where(predicates...).Page(l.ctx, in.Page, in.PageSize)

	if err != nil {
		return nil, dberrorhandler.DefaultEntError(l.Logger, err, in)
	}

	resp := &core.DictionaryDetailListResp{}
	resp.Total = result.PageDetails.Total

	for _, v := range result.List {
		info := &core.DictionaryDetailInfo{}
		info.Id = pointy.GetPointer(v.ID)
		info.CreatedAt = pointy.GetPointer(v.CreatedAt.UnixMilli())
		info.UpdatedAt = pointy.GetPointer(v.UpdatedAt.UnixMilli())
		info.Status = pointy.GetPointer(uint32(v.Status))
		info.Sort = pointy.GetPointer(v.Sort)
		info.Title = pointy.GetPointer(v.Title)
		info.Key = pointy.GetPointer(v.Key)
		info.Value = pointy.GetPointer(v.Value)
		info.DictionaryId = pointy.GetPointer(v.DictionaryID)
		resp.Data = append(resp.Data, info)
	}

	return resp, nil
}
