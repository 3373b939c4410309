package apitoken

import (
	"context"

	"github.com/suyuan32/simple-admin-common/utils/pointy"
	"github.com/suyuan32/simple-admin-common/utils/uuidx"
	"github.com/suyuan32/simple-admin-core/rpc/internal/svc"
	"github.com/suyuan32/simple-admin-core/rpc/internal/utils/dberrorhandler"
	"github.com/suyuan32/simple-admin-core/rpc/types/core"

	"github.com/zeromicro/go-zero/core/logx"
)

type GetApiTokenByIdLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewGetApiTokenByIdLogic(ctx context.Context, svcCtx *svc.ServiceContext) *GetApiTokenByIdLogic {
	return &GetApiTokenByIdLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

func (l *GetApiTokenByIdLogic) GetApiTokenById(in *core.UUIDReq) (*core.ApiTokenInfo, error) {
	v, err := l.svcCtx.DB.ApiToken.Get(l.ctx, uuidx.ParseUUIDString(in.Id))
	if err != nil {
		return nil, dberrorhandler.DefaultEntError(l.Logger, err, in)
	}

	info := &core.ApiTokenInfo{}
	info.Id = pointy.GetPointer(v.ID.String())
	info.CreatedAt = pointy.GetPointer(v.CreatedAt.UnixMilli())
	info.UpdatedAt = pointy.GetPointer(v.UpdatedAt.UnixMilli())
	info.Status = pointy.GetPointer(uint32(v.Status))
	info.Token = pointy.GetPointer(v.Token)
	info.ExpiresAt = pointy.GetPointer(v.ExpiresAt.UnixMilli())
	info.OwnerUuid = pointy.GetPointer(v.OwnerUUID.String())

	return info, nil
}
