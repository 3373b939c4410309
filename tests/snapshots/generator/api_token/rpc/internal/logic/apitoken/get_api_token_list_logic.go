package apitoken

import (
	"context"

	"github.com/suyuan32/simple-admin-common/utils/pointy"
	"github.com/suyuan32/simple-admin-core/rpc/ent/apitoken"
	"github.com/suyuan32/simple-admin-core/rpc/ent/predicate"
	"github.com/suyuan32/simple-admin-core/rpc/internal/svc"
	"github.com/suyuan32/simple-admin-core/rpc/internal/utils/dberrorhandler"
	"github.com/suyuan32/simple-admin-core/rpc/types/core"

	"github.com/zeromicro/go-zero/core/logx"
)

type GetApiTokenListLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewGetApiTokenListLogic(ctx context.Context, svcCtx *svc.ServiceContext) *GetApiTokenListLogic {
	return &GetApiTokenListLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

func (l *GetApiTokenListLogic) GetApiTokenList(in *core.ApiTokenListReq) (*core.ApiTokenListResp, error) {
	var predicates []predicate.ApiToken
	if in.Token != nil {
		predicates = append(predicates, apitoken.TokenContains(*in.Token))
	}
	if in.Status != nil {
		predicates = append(predicates, apitoken.StatusEQ(uint8(*in.Status)))
	}
	result, err := l.svcCtx.DB.ApiToken.Query().Where(predicates...).Page(l.ctx, in.Page, in.PageSize)

	if err != nil {
		return nil, dberrorhandler.DefaultEntError(l.Logger, err, in)
	}

	resp := &core.ApiTokenListResp{}
	resp.Total = result.PageDetails.Total

	for _, v := range result.List {
		info := &core.ApiTokenInfo{}
		info.Id = pointy.GetPointer(v.ID.String())
		info.CreatedAt = pointy.GetPointer(v.CreatedAt.UnixMilli())
		info.UpdatedAt = pointy.GetPointer(v.UpdatedAt.UnixMilli())
		info.Status = pointy.GetPointer(uint32(v.Status))
		info.Token = pointy.GetPointer(v.Token)
		info.ExpiresAt = pointy.GetPointer(v.ExpiresAt.UnixMilli())
		info.OwnerUuid = pointy.GetPointer(v.OwnerUUID.String())
		resp.Data = append(resp.Data, info)
	}

	return resp, nil
}
